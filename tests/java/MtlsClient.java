// A JSSE client, as a Java gateway would call the backend: the client key and certificate come
// from client-apigee-keystore.p12 (PKCS#12) and trust from an in-memory truststore holding only
// the CA certificate. Hostname verification stays on.
//
//   java tests/java/MtlsClient.java URL CLIENT_KEYSTORE PASSWORD CA_CERT_PEM
//
// Makes three calls and prints one line for each:
//   tls1.3 / tls1.2   with the client certificate   -> "CASE status=200 body=..."
//   no-client-cert    without a key                 -> "CASE error=ExceptionClass: message"
// Exit code 0 when all three lines were printed (the caller judges the outcomes).
import java.io.FileInputStream;
import java.io.InputStream;
import java.net.URL;
import java.nio.charset.StandardCharsets;
import java.security.KeyStore;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import javax.net.ssl.HttpsURLConnection;
import javax.net.ssl.KeyManager;
import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SSLContext;
import javax.net.ssl.TrustManagerFactory;

public class MtlsClient {
    static SSLContext context(String protocol, KeyStore keystore, char[] password, KeyStore trust) throws Exception {
        KeyManager[] keys = null;
        if (keystore != null) {
            KeyManagerFactory kmf = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
            kmf.init(keystore, password);
            keys = kmf.getKeyManagers();
        }
        TrustManagerFactory tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
        tmf.init(trust);
        SSLContext tls = SSLContext.getInstance(protocol);
        tls.init(keys, tmf.getTrustManagers(), null);
        return tls;
    }

    static void call(String name, String url, SSLContext tls) {
        try {
            HttpsURLConnection connection = (HttpsURLConnection) new URL(url).openConnection();
            connection.setSSLSocketFactory(tls.getSocketFactory());
            connection.setConnectTimeout(5000);
            connection.setReadTimeout(5000);
            int status = connection.getResponseCode();
            InputStream in = status < 400 ? connection.getInputStream() : connection.getErrorStream();
            String body = in == null ? "" : new String(in.readAllBytes(), StandardCharsets.UTF_8);
            System.out.println(name + " status=" + status + " protocol=" + tls.getProtocol() + " body=" + body.replace('\n', ' '));
        } catch (Exception e) {
            System.out.println(name + " error=" + e.getClass().getSimpleName() + ": " + e.getMessage());
        }
    }

    public static void main(String[] args) throws Exception {
        if (args.length != 4) {
            System.err.println("usage: MtlsClient URL CLIENT_KEYSTORE PASSWORD CA_CERT_PEM");
            System.exit(2);
        }
        char[] password = args[2].toCharArray();
        KeyStore keystore = KeyStore.getInstance("PKCS12");
        try (InputStream in = new FileInputStream(args[1])) {
            keystore.load(in, password);
        }
        KeyStore trust = KeyStore.getInstance("PKCS12");
        trust.load(null, null);
        try (InputStream in = new FileInputStream(args[3])) {
            trust.setCertificateEntry("ca", (X509Certificate) CertificateFactory.getInstance("X.509").generateCertificate(in));
        }
        call("tls1.3", args[0], context("TLSv1.3", keystore, password, trust));
        call("tls1.2", args[0], context("TLSv1.2", keystore, password, trust));
        call("no-client-cert", args[0], context("TLSv1.3", null, null, trust));
    }
}
