using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Shoal.Core;
using Shoal.Storage;

namespace Shoal.Net;

/// <summary>
/// This node's long-term ECDSA P-256 key and self-signed certificate. The <see cref="DeviceId"/> is the SHA-256 of
/// the certificate's bytes, so the certificate is generated once, stored, and always loaded as stored: re-issuing it,
/// even with the same key, would change the device id.
/// </summary>
public sealed class NodeIdentity : IDisposable
{
    public const string CertificateFileName = "cert.pem";
    public const string KeyFileName = "key.pem";

    private const string SubjectName = "CN=shoal";
    private const int SerialNumberSize = 16;
    private const string EcPublicKeyOid = "1.2.840.10045.2.1";
    private const string ServerAuthOid = "1.3.6.1.5.5.7.3.1";
    private const string ClientAuthOid = "1.3.6.1.5.5.7.3.2";

    // RFC 5280 §4.1.2.5: the value for "no well-defined expiration". Trust comes from membership, not from dates.
    private static readonly DateTimeOffset NoExpiry = new(9999, 12, 31, 23, 59, 59, TimeSpan.Zero);

    // DER of the named-curve OID 1.2.840.10045.3.1.7 (secp256r1), as it appears in the key's algorithm parameters.
    private static readonly byte[] P256Parameters = [0x06, 0x08, 0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x03, 0x01, 0x07];

    private NodeIdentity(X509Certificate2 certificate)
    {
        Certificate = certificate;
        DeviceId = DeviceId.FromCertificate(certificate.RawDataMemory.Span);

        // Built once here: creating a context builds a chain, work that would otherwise repeat on every connection.
        CertificateContext = SslStreamCertificateContext.Create(certificate, additionalCertificates: null, offline: true);
    }

    /// <summary>The certificate with its private key, presented as both TLS client and server certificate.</summary>
    public X509Certificate2 Certificate { get; }

    public DeviceId DeviceId { get; }

    internal SslStreamCertificateContext CertificateContext { get; }

    public static bool Exists(string directory) =>
        File.Exists(Path.Combine(directory, CertificateFileName)) && File.Exists(Path.Combine(directory, KeyFileName));

    /// <summary>
    /// Loads the identity stored in <paramref name="directory"/>, or creates and stores a new one if there is none.
    /// Throws <see cref="InvalidDataException"/> if a stored identity is damaged: it is never silently replaced,
    /// because a new identity is a new device id that peers do not know.
    /// </summary>
    public static NodeIdentity LoadOrCreate(string directory)
    {
        var certificatePath = Path.Combine(directory, CertificateFileName);
        var keyPath = Path.Combine(directory, KeyFileName);

        // The certificate is written last, so it marks a complete identity. A key without one is what an
        // interrupted creation leaves behind; nobody can know that identity yet, so it is replaced.
        return File.Exists(certificatePath) ? Load(certificatePath, keyPath) : Create(directory, certificatePath, keyPath);
    }

    public void Dispose() => Certificate.Dispose();

    internal static bool HasP256Key(X509Certificate2 certificate) =>
        certificate.PublicKey.Oid.Value == EcPublicKeyOid
        && certificate.PublicKey.EncodedParameters?.RawData is { } parameters
        && parameters.AsSpan().SequenceEqual(P256Parameters);

    private static NodeIdentity Create(string directory, string certificatePath, string keyPath)
    {
        AtomicFile.CreatePrivateDirectory(directory);

        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest(SubjectName, key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension(
            [new Oid(ServerAuthOid), new Oid(ClientAuthOid)], false));

        // Random and positive (top bit clear) with no leading zero octet, as DER INTEGER rules require.
        var serial = RandomNumberGenerator.GetBytes(SerialNumberSize);
        serial[0] = (byte)((serial[0] & 0x7F) | 0x40);

        // Backdated a day so tools that do check dates, on a machine whose clock runs behind, accept it.
        var notBefore = DateTimeOffset.UtcNow.AddDays(-1);
        using var signed = request.Create(
            request.SubjectName, X509SignatureGenerator.CreateForECDsa(key), notBefore, NoExpiry, serial);
        var certificatePem = signed.ExportCertificatePem();
        var keyPem = key.ExportPkcs8PrivateKeyPem();

        AtomicFile.WriteAllText(keyPath, keyPem, AtomicFile.OwnerOnly);
        AtomicFile.WriteAllText(certificatePath, certificatePem, AtomicFile.OwnerOnly);

        // Built from the same PEM a later load reads, so this run and the next see byte-identical certificates.
        return FromPem(certificatePem, keyPem, certificatePath);
    }

    private static NodeIdentity Load(string certificatePath, string keyPath)
    {
        if (!File.Exists(keyPath))
        {
            throw new InvalidDataException(
                $"'{certificatePath}' exists but its private key '{keyPath}' is missing. Restore the key, or delete " +
                "the certificate to create a new identity (with a new device id).");
        }

        return FromPem(File.ReadAllText(certificatePath), File.ReadAllText(keyPath), certificatePath);
    }

    private static NodeIdentity FromPem(string certificatePem, string keyPem, string source)
    {
        X509Certificate2 certificate;
        try
        {
            certificate = X509Certificate2.CreateFromPem(certificatePem, keyPem);
        }
        catch (Exception e) when (e is CryptographicException or ArgumentException)
        {
            throw new InvalidDataException($"The identity in '{source}' cannot be loaded: {e.Message}", e);
        }

        if (!HasP256Key(certificate))
        {
            certificate.Dispose();
            throw new InvalidDataException($"The identity in '{source}' does not use an ECDSA P-256 key.");
        }

        return new NodeIdentity(certificate);
    }
}
