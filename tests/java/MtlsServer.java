// A JDK-only HTTPS server that requires a client certificate, configured the way Spring Boot reads
// the tutorial's application.properties: a PKCS#12 keystore with a key alias and a PKCS#12
// truststore. Proves the stores made by scripts/13-server-stores.ts serve a Java service, and is
// the JDK reference server of bench/backend.
//
//   java tests/java/MtlsServer.java PORT KEYSTORE KEYSTORE_PASSWORD KEY_ALIAS TRUSTSTORE TRUSTSTORE_PASSWORD
//
// PORT 0 picks a free port. Prints "listening PORT" once ready; stops when stdin closes.
// Run with -Dsun.net.httpserver.nodelay=true, otherwise small responses wait ~40 ms for Nagle.
import com.sun.net.httpserver.HttpsConfigurator;
import com.sun.net.httpserver.HttpsExchange;
import com.sun.net.httpserver.HttpsParameters;
import com.sun.net.httpserver.HttpsServer;
import java.io.FileInputStream;
import java.io.InputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.security.KeyStore;
import java.security.Principal;
import java.security.PrivateKey;
import java.security.cert.X509Certificate;
import java.util.concurrent.Executors;
import javax.net.ssl.KeyManager;
import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLEngine;
import javax.net.ssl.SSLParameters;
import javax.net.ssl.TrustManagerFactory;
import javax.net.ssl.X509ExtendedKeyManager;
import javax.net.ssl.X509KeyManager;

public class MtlsServer {
    static KeyStore load(String path, char[] password) throws Exception {
        KeyStore store = KeyStore.getInstance("PKCS12");
        try (InputStream in = new FileInputStream(path)) {
            store.load(in, password);
        }
        return store;
    }

    /** Serves only the configured alias, like Spring's server.ssl.key-alias. */
    // Extended so JSSE also asks it for SSLEngine connections (which HttpsServer uses).
    static X509ExtendedKeyManager pinAlias(X509KeyManager inner, String alias) {
        return new X509ExtendedKeyManager() {
            public String chooseServerAlias(String type, Principal[] issuers, Socket socket) {
                String[] aliases = inner.getServerAliases(type, issuers);
                if (aliases == null) return null;
                for (String a : aliases) if (a.equalsIgnoreCase(alias)) return a;
                return null;
            }
            public String chooseEngineServerAlias(String type, Principal[] issuers, SSLEngine engine) {
                return chooseServerAlias(type, issuers, null);
            }
            public String chooseClientAlias(String[] types, Principal[] issuers, Socket socket) { return null; }
            public String[] getClientAliases(String type, Principal[] issuers) { return null; }
            public String[] getServerAliases(String type, Principal[] issuers) { return inner.getServerAliases(type, issuers); }
            public X509Certificate[] getCertificateChain(String a) { return inner.getCertificateChain(a); }
            public PrivateKey getPrivateKey(String a) { return inner.getPrivateKey(a); }
        };
    }

    public static void main(String[] args) throws Exception {
        if (args.length != 6) {
            System.err.println("usage: MtlsServer PORT KEYSTORE KEYSTORE_PASSWORD KEY_ALIAS TRUSTSTORE TRUSTSTORE_PASSWORD");
            System.exit(2);
        }
        char[] keyPassword = args[2].toCharArray();
        KeyStore keystore = load(args[1], keyPassword);
        if (!keystore.isKeyEntry(args[3])) {
            System.err.println("keystore has no key entry with alias " + args[3]);
            System.exit(1);
        }
        KeyStore truststore = load(args[4], args[5].toCharArray());
        if (truststore.size() == 0) {
            System.err.println("truststore has no trusted certificate entries (a certs-only p12 from openssl looks empty to Java)");
            System.exit(1);
        }

        KeyManagerFactory kmf = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
        kmf.init(keystore, keyPassword);
        TrustManagerFactory tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
        tmf.init(truststore);
        SSLContext tls = SSLContext.getInstance("TLS");
        tls.init(new KeyManager[] { pinAlias((X509KeyManager) kmf.getKeyManagers()[0], args[3]) }, tmf.getTrustManagers(), null);

        HttpsServer server = HttpsServer.create(new InetSocketAddress("127.0.0.1", Integer.parseInt(args[0])), 512);
        server.setHttpsConfigurator(new HttpsConfigurator(tls) {
            @Override
            public void configure(HttpsParameters params) {
                SSLParameters ssl = tls.getDefaultSSLParameters();
                ssl.setNeedClientAuth(true); // server.ssl.client-auth=need
                ssl.setProtocols(new String[] { "TLSv1.3", "TLSv1.2" });
                params.setSSLParameters(ssl);
            }
        });
        server.createContext("/", exchange -> {
            String client = ((HttpsExchange) exchange).getSSLSession().getPeerPrincipal().getName();
            byte[] body = ("{\"message\":\"Hello, secure world with mTLS!\",\"client\":\""
                    + client.replace("\\", "\\\\").replace("\"", "\\\"") + "\"}").getBytes(StandardCharsets.UTF_8);
            exchange.getResponseHeaders().set("Content-Type", "application/json");
            exchange.sendResponseHeaders(200, body.length);
            exchange.getResponseBody().write(body);
            exchange.close();
        });
        server.setExecutor(Executors.newCachedThreadPool());
        server.start();
        System.out.println("listening " + server.getAddress().getPort());
        System.out.flush();

        while (System.in.read() != -1) { /* run until stdin closes */ }
        server.stop(0);
        System.exit(0);
    }
}
