using System.Net.Security;
using System.Runtime.Versioning;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using Shoal.Core;

namespace Shoal.Net;

/// <summary>
/// Mutually authenticated TLS 1.3 between two nodes. Each side presents its self-signed <see cref="NodeIdentity"/>
/// certificate; TLS proves each holds its certificate's key, which makes <see cref="RemoteDeviceId"/> trustworthy.
/// It does not make the peer trusted: that is the membership proof's job, exchanged inside the session afterwards.
/// Session resumption is off, so every session presents and proves both certificates, which is what
/// <see cref="RemoteDeviceId"/> and the membership proof rely on.
/// </summary>
public static class TlsChannel
{
    /// <summary>
    /// Runs the server side of the handshake over <paramref name="transport"/>, requiring a client certificate.
    /// Takes ownership of the transport: the returned stream disposes it, and so does a failed handshake.
    /// Bound the handshake with <paramref name="cancellationToken"/>; a peer that connects and stays silent would
    /// otherwise hold it open indefinitely.
    /// </summary>
    public static Task<SslStream> AuthenticateAsServerAsync(Stream transport, NodeIdentity identity, CancellationToken cancellationToken)
    {
        var options = new SslServerAuthenticationOptions
        {
            ServerCertificateContext = identity.CertificateContext,
            ClientCertificateRequired = true,
            EnabledSslProtocols = SslProtocols.Tls13,
            AllowRenegotiation = false,
            AllowTlsResume = false,
            CertificateRevocationCheckMode = X509RevocationMode.NoCheck,
            RemoteCertificateValidationCallback = ValidatePeerCertificate,
        };
        if (OperatingSystem.IsLinux())
        {
            options.CipherSuitesPolicy = PreferredCipherSuites.Policy;
        }

        return AuthenticateAsync(transport, (ssl, ct) => ssl.AuthenticateAsServerAsync(options, ct), cancellationToken);
    }

    /// <summary>The client side of <see cref="AuthenticateAsServerAsync"/>, with the same ownership and cancellation rules.</summary>
    public static Task<SslStream> AuthenticateAsClientAsync(Stream transport, NodeIdentity identity, CancellationToken cancellationToken)
    {
        var options = new SslClientAuthenticationOptions
        {
            // Empty: no SNI. Peers are identified by certificate hash, and a fixed name would only label the traffic.
            TargetHost = "",
            ClientCertificateContext = identity.CertificateContext,
            EnabledSslProtocols = SslProtocols.Tls13,
            AllowRenegotiation = false,
            AllowTlsResume = false,
            CertificateRevocationCheckMode = X509RevocationMode.NoCheck,
            RemoteCertificateValidationCallback = ValidatePeerCertificate,
        };
        if (OperatingSystem.IsLinux())
        {
            options.CipherSuitesPolicy = PreferredCipherSuites.Policy;
        }

        return AuthenticateAsync(transport, (ssl, ct) => ssl.AuthenticateAsClientAsync(options, ct), cancellationToken);
    }

    /// <summary>The device id of the authenticated peer: the SHA-256 of the certificate it proved it holds.</summary>
    public static DeviceId RemoteDeviceId(SslStream stream) =>
        stream.RemoteCertificate is { } certificate
            ? DeviceId.FromCertificate(certificate.GetRawCertData())
            : throw new InvalidOperationException("The TLS session has no authenticated remote certificate.");

    private static async Task<SslStream> AuthenticateAsync(
        Stream transport, Func<SslStream, CancellationToken, Task> handshake, CancellationToken cancellationToken)
    {
        var ssl = new SslStream(transport, leaveInnerStreamOpen: false);
        try
        {
            await handshake(ssl, cancellationToken).ConfigureAwait(false);
            if (ssl.SslProtocol != SslProtocols.Tls13 || ssl.RemoteCertificate is null)
            {
                throw new AuthenticationException("The peer did not complete a mutually authenticated TLS 1.3 handshake.");
            }

            return ssl;
        }
        catch
        {
            await ssl.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>
    /// Accepts any certificate with an ECDSA P-256 key. Certificates are self-signed, so chain and name errors are
    /// expected and ignored: a certificate only establishes which device the peer is. Whether that device may do
    /// anything is decided after the handshake, by the membership proof bound to this session.
    /// </summary>
    private static bool ValidatePeerCertificate(object sender, X509Certificate? certificate, X509Chain? chain, SslPolicyErrors errors) =>
        (errors & SslPolicyErrors.RemoteCertificateNotAvailable) == 0
        && certificate is X509Certificate2 peer
        && NodeIdentity.HasP256Key(peer);

    /// <summary>
    /// AES-128-GCM first: fewer rounds than AES-256 with ample security margin; AES-256-GCM for peers that insist.
    /// A nested class so the policy is only constructed where it is supported.
    /// </summary>
    [SupportedOSPlatform("linux")]
    private static class PreferredCipherSuites
    {
        public static readonly CipherSuitesPolicy Policy = new([
            TlsCipherSuite.TLS_AES_128_GCM_SHA256,
            TlsCipherSuite.TLS_AES_256_GCM_SHA384,
        ]);
    }
}
