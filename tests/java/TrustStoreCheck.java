// Test helper for tests/lib-pkcs12.test.ts: a JSSE TLS server that requires a client certificate
// and trusts only what the given PKCS#12 truststore holds. Run as a single-file program:
//   java TrustStoreCheck.java <server-keystore.p12> <truststore.p12> <password> <connections>
// It prints "LISTENING <port>", then for each connection "ACCEPTED <client subject>" (and sends
// "HELLO <client subject>" to the client) or "REJECTED <reason>".
import java.io.FileInputStream;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.nio.charset.StandardCharsets;
import java.security.KeyStore;
import java.security.cert.X509Certificate;
import java.util.Collections;
import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLServerSocket;
import javax.net.ssl.SSLSocket;
import javax.net.ssl.TrustManagerFactory;

public class TrustStoreCheck {
  static KeyStore load(String path, char[] password) throws Exception {
    KeyStore store = KeyStore.getInstance("PKCS12");
    try (InputStream in = new FileInputStream(path)) {
      store.load(in, password);
    }
    return store;
  }

  public static void main(String[] args) throws Exception {
    char[] password = args[2].toCharArray();
    int connections = Integer.parseInt(args[3]);

    KeyStore trust = load(args[1], password);
    int trusted = 0;
    for (String alias : Collections.list(trust.aliases())) {
      if (trust.isCertificateEntry(alias)) trusted++;
    }
    // An empty trust set would make every handshake fail for the wrong reason.
    if (trusted == 0) throw new IllegalStateException("truststore holds no trustedCertEntry");

    KeyManagerFactory kmf = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
    kmf.init(load(args[0], password), password);
    TrustManagerFactory tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
    tmf.init(trust);
    SSLContext context = SSLContext.getInstance("TLS");
    context.init(kmf.getKeyManagers(), tmf.getTrustManagers(), null);

    try (SSLServerSocket server = (SSLServerSocket) context.getServerSocketFactory()
        .createServerSocket(0, 10, InetAddress.getLoopbackAddress())) {
      server.setNeedClientAuth(true);
      System.out.println("LISTENING " + server.getLocalPort());
      System.out.flush();
      for (int i = 0; i < connections; i++) {
        try (SSLSocket socket = (SSLSocket) server.accept()) {
          try {
            socket.startHandshake();
            X509Certificate client = (X509Certificate) socket.getSession().getPeerCertificates()[0];
            String subject = client.getSubjectX500Principal().getName();
            System.out.println("ACCEPTED " + subject);
            OutputStream out = socket.getOutputStream();
            out.write(("HELLO " + subject + "\n").getBytes(StandardCharsets.UTF_8));
            out.flush();
          } catch (Exception e) {
            System.out.println("REJECTED " + e.getMessage());
          }
        }
        System.out.flush();
      }
    }
  }
}
