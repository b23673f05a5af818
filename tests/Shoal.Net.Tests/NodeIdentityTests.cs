using System.Runtime.Versioning;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Shoal.Core;

namespace Shoal.Net.Tests;

public sealed class NodeIdentityTests : IDisposable
{
    private readonly TestDirectory _directory = new();

    public void Dispose() => _directory.Dispose();

    [Fact]
    public void CreatedOnceThenLoadedWithTheSameDeviceId()
    {
        var path = _directory.Combine("node");
        Assert.False(NodeIdentity.Exists(path));

        using var created = NodeIdentity.LoadOrCreate(path);
        Assert.True(NodeIdentity.Exists(path));
        using var loaded = NodeIdentity.LoadOrCreate(path);

        Assert.Equal(created.DeviceId, loaded.DeviceId);
        Assert.Equal(created.Certificate.RawData, loaded.Certificate.RawData);
        Assert.Equal(DeviceId.FromCertificate(loaded.Certificate.RawData), loaded.DeviceId);
    }

    [Fact]
    public void CertificateIsSelfSignedP256WithItsPrivateKey()
    {
        using var identity = NodeIdentity.LoadOrCreate(_directory.Combine("node"));
        var certificate = identity.Certificate;

        Assert.True(certificate.HasPrivateKey);
        Assert.Equal("CN=shoal", certificate.Subject);
        Assert.Equal(certificate.Subject, certificate.Issuer);
        Assert.Equal(16, certificate.SerialNumberBytes.Length);
        Assert.True(certificate.NotAfter > DateTime.UtcNow.AddYears(100));
        using var key = certificate.GetECDsaPrivateKey();
        Assert.NotNull(key);
        Assert.Equal(256, key.KeySize);
        var data = "signed"u8.ToArray();
        using var publicKey = certificate.GetECDsaPublicKey()!;
        Assert.True(publicKey.VerifyData(data, key.SignData(data, HashAlgorithmName.SHA256), HashAlgorithmName.SHA256));
    }

    [Fact]
    public void DistinctNodesHaveDistinctIdentities()
    {
        using var a = NodeIdentity.LoadOrCreate(_directory.Combine("a"));
        using var b = NodeIdentity.LoadOrCreate(_directory.Combine("b"));

        Assert.NotEqual(a.DeviceId, b.DeviceId);
        Assert.NotEqual(a.Certificate.SerialNumber, b.Certificate.SerialNumber);
    }

    [Fact]
    [SupportedOSPlatform("linux")]
    public void KeyIsReadableByTheOwnerOnly()
    {
        var path = _directory.Combine("node");
        using var identity = NodeIdentity.LoadOrCreate(path);

        var ownerReadWrite = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        Assert.Equal(ownerReadWrite, File.GetUnixFileMode(Path.Combine(path, NodeIdentity.KeyFileName)));
        Assert.Equal(ownerReadWrite | UnixFileMode.UserExecute, File.GetUnixFileMode(path));
        Assert.Equal([NodeIdentity.CertificateFileName, NodeIdentity.KeyFileName], Directory.GetFiles(path).Select(Path.GetFileName).Order());
    }

    [Fact]
    public void MissingKeyIsAnErrorNotANewIdentity()
    {
        var path = _directory.Combine("node");
        NodeIdentity.LoadOrCreate(path).Dispose();
        File.Delete(Path.Combine(path, NodeIdentity.KeyFileName));

        var error = Assert.Throws<InvalidDataException>(() => NodeIdentity.LoadOrCreate(path));
        Assert.Contains(NodeIdentity.KeyFileName, error.Message);
        Assert.True(File.Exists(Path.Combine(path, NodeIdentity.CertificateFileName)));
    }

    [Fact]
    public void KeyOfAnotherIdentityIsRejected()
    {
        var first = _directory.Combine("first");
        var second = _directory.Combine("second");
        NodeIdentity.LoadOrCreate(first).Dispose();
        NodeIdentity.LoadOrCreate(second).Dispose();
        File.Copy(Path.Combine(second, NodeIdentity.KeyFileName), Path.Combine(first, NodeIdentity.KeyFileName), overwrite: true);

        Assert.Throws<InvalidDataException>(() => NodeIdentity.LoadOrCreate(first));
    }

    [Fact]
    public void DamagedCertificateIsRejected()
    {
        var path = _directory.Combine("node");
        NodeIdentity.LoadOrCreate(path).Dispose();
        File.WriteAllText(Path.Combine(path, NodeIdentity.CertificateFileName), "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n");

        Assert.Throws<InvalidDataException>(() => NodeIdentity.LoadOrCreate(path));
    }

    [Fact]
    public void NonP256IdentityIsRejected()
    {
        var path = _directory.Combine("node");
        Directory.CreateDirectory(path);
        using var rsa = RSA.Create(2048);
        using var certificate = new CertificateRequest("CN=shoal", rsa, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1)
            .CreateSelfSigned(DateTimeOffset.UtcNow, DateTimeOffset.UtcNow.AddYears(1));
        File.WriteAllText(Path.Combine(path, NodeIdentity.CertificateFileName), certificate.ExportCertificatePem());
        File.WriteAllText(Path.Combine(path, NodeIdentity.KeyFileName), rsa.ExportPkcs8PrivateKeyPem());

        var error = Assert.Throws<InvalidDataException>(() => NodeIdentity.LoadOrCreate(path));
        Assert.Contains("P-256", error.Message);
    }

    [Fact]
    public void KeyLeftByAnInterruptedCreationIsReplaced()
    {
        var path = _directory.Combine("node");
        Directory.CreateDirectory(path);
        File.WriteAllText(Path.Combine(path, NodeIdentity.KeyFileName), "partial");

        using var identity = NodeIdentity.LoadOrCreate(path);
        using var loaded = NodeIdentity.LoadOrCreate(path);

        Assert.Equal(identity.DeviceId, loaded.DeviceId);
    }
}
