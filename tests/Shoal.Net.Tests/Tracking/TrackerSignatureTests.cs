using System.Globalization;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Shoal.Core;
using Shoal.Net.Tracking;
using Shoal.Testing;

namespace Shoal.Net.Tests.Tracking;

public sealed class TrackerSignatureTests : IDisposable
{
    private const string Method = "POST";
    private const string PathAndQuery = "/v1/announce?network=abc";
    private const string Host = "tracker.example:8443";

    private static readonly byte[] Body = "{\"port\":7420,\"addresses\":[\"10.0.0.2:7420\"]}"u8.ToArray();

    private readonly TestDirectory _directory = new();
    private readonly ManualTimeProvider _time = new();
    private readonly NetworkMembership _membership = NetworkMembership.CreateNew();
    private readonly NodeIdentity _device;
    private readonly NetworkTrackerKey _networkKey;
    private readonly TrackerRequestSigner _signer;
    private readonly TrackerRequestVerifier _verifier = new();

    public TrackerSignatureTests()
    {
        _device = NodeIdentity.LoadOrCreate(_directory.Combine("device"));
        _networkKey = NetworkTrackerKey.Derive(_membership);
        _signer = new TrackerRequestSigner(_device.Certificate, _networkKey, _time);
    }

    public void Dispose()
    {
        _signer.Dispose();
        _networkKey.Dispose();
        _device.Dispose();
        _directory.Dispose();
    }

    [Fact]
    public void EveryMemberDerivesTheSameKeyAndTag()
    {
        var otherMember = new NetworkMembership(_membership.Network, _membership.Secret);
        using var again = NetworkTrackerKey.Derive(otherMember);

        Assert.Equal(_networkKey.PublicKey, again.PublicKey);
        Assert.Equal(_networkKey.Tag, again.Tag);
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(_networkKey.PublicKey)), _networkKey.Tag);
        using var imported = ECDsa.Create();
        imported.ImportSubjectPublicKeyInfo(_networkKey.PublicKey, out _);
        Assert.Equal(ECCurve.NamedCurves.nistP256.Oid.Value, imported.ExportParameters(false).Curve.Oid.Value);
    }

    [Fact]
    public void OtherNetworksDeriveOtherTags()
    {
        using var other = NetworkTrackerKey.Derive(NetworkMembership.CreateNew());
        using var sameSecretOtherNetwork = NetworkTrackerKey.Derive(new NetworkMembership(NetworkId.New(), _membership.Secret));

        Assert.NotEqual(_networkKey.Tag, other.Tag);
        Assert.NotEqual(_networkKey.Tag, sameSecretOtherNetwork.Tag);
    }

    [Fact]
    public void ASignedRequestVerifiesAsItsDeviceAndNetwork()
    {
        _time.Advance(TimeSpan.FromMilliseconds(1234));
        var headers = Sign();

        var result = Verify(headers);

        Assert.Equal(200, result.Status);
        Assert.Null(result.Error);
        var sender = Assert.IsType<TrackerSender>(result.Sender);
        Assert.Equal(_device.DeviceId, sender.Device);
        Assert.Equal(_device.DeviceId.Value.ToHex(), sender.DeviceHex);
        Assert.Equal(_networkKey.Tag, sender.Network);
        Assert.Equal(_signer.NetworkTag, sender.Network);
        Assert.Equal(headers[TrackerHeaders.Nonce], sender.Nonce);
        Assert.Equal(_time.GetUtcNow(), sender.SignedAt);
    }

    [Fact]
    public void TwoDevicesOfOneNetworkShareTheTagButNotTheDevice()
    {
        using var otherDevice = NodeIdentity.LoadOrCreate(_directory.Combine("other"));
        using var otherKey = NetworkTrackerKey.Derive(new NetworkMembership(_membership.Network, _membership.Secret));
        using var otherSigner = new TrackerRequestSigner(otherDevice.Certificate, otherKey, _time);

        var mine = Verify(Sign());
        var theirs = Verify(Sign(otherSigner));

        Assert.Equal(mine.Sender!.Network, theirs.Sender!.Network);
        Assert.Equal(otherDevice.DeviceId, theirs.Sender.Device);
        Assert.NotEqual(mine.Sender.Device, theirs.Sender.Device);
    }

    [Fact]
    public void EveryRequestHasItsOwnNonce()
    {
        Assert.NotEqual(Sign()[TrackerHeaders.Nonce], Sign()[TrackerHeaders.Nonce]);
    }

    [Fact]
    public void EachMissingOrEmptyHeaderIsNamed()
    {
        foreach (var name in TrackerHeaders.All)
        {
            foreach (var value in new[] { null, "" })
            {
                var headers = Sign();
                if (value is null) headers.Remove(name);
                else headers[name] = value;

                var result = Verify(headers);

                Assert.Equal(401, result.Status);
                Assert.Null(result.Sender);
                Assert.Contains(name, result.Error, StringComparison.Ordinal);
            }
        }
    }

    [Fact]
    public void MethodPathAndHostAreSignedButNotTheirCase()
    {
        var headers = Sign();

        AssertBadSignature(Verify(headers, method: "PUT"));
        AssertBadSignature(Verify(headers, pathAndQuery: "/v1/announce?network=abd"));
        AssertBadSignature(Verify(headers, pathAndQuery: "/V1/announce?network=abc"));
        AssertBadSignature(Verify(headers, host: "tracker.example:8444"));
        AssertBadSignature(Verify(headers, host: "evil.example:8443"));
        Assert.Equal(200, Verify(headers, method: "post", host: "TRACKER.example:8443").Status);
    }

    [Fact]
    public void EveryByteOfTheBodyIsSigned()
    {
        var headers = Sign();
        for (var i = 0; i < Body.Length; i++)
        {
            var changed = Body.ToArray();
            changed[i] ^= 0x01;
            AssertBadSignature(Verify(headers, body: changed));
        }

        AssertBadSignature(Verify(headers, body: [.. Body, (byte)' ']));
        AssertBadSignature(Verify(headers, body: []));
    }

    [Fact]
    public void ATimestampOrNonceChangedWithinTheWindowIsRefused()
    {
        var headers = Sign();
        var timestamp = long.Parse(headers[TrackerHeaders.Timestamp], CultureInfo.InvariantCulture);
        var later = headers.ToDictionary();
        later[TrackerHeaders.Timestamp] = (timestamp + 1).ToString(CultureInfo.InvariantCulture);
        var otherNonce = headers.ToDictionary();
        otherNonce[TrackerHeaders.Nonce] = Sign()[TrackerHeaders.Nonce];

        AssertBadSignature(Verify(later));
        AssertBadSignature(Verify(otherNonce));
    }

    [Fact]
    public void AnotherNetworksKeyOrAnotherDevicesCertificateInTheHeadersIsRefused()
    {
        using var otherNetwork = NetworkTrackerKey.Derive(NetworkMembership.CreateNew());
        using var otherDevice = NodeIdentity.LoadOrCreate(_directory.Combine("other"));
        var headers = Sign();

        var networkSwapped = headers.ToDictionary();
        networkSwapped[TrackerHeaders.NetworkKey] = Convert.ToBase64String(otherNetwork.PublicKey);
        var deviceSwapped = headers.ToDictionary();
        deviceSwapped[TrackerHeaders.Certificate] = Convert.ToBase64String(otherDevice.Certificate.RawData);

        AssertBadSignature(Verify(networkSwapped));
        AssertBadSignature(Verify(deviceSwapped));
    }

    [Fact]
    public void ADeviceWithoutTheNetworksKeyCannotClaimTheNetwork()
    {
        // An outsider knows the network's public key (any tracker does) and signs correctly with its own device key,
        // but the network signature can only come from some other key than the network's.
        using var outsider = NodeIdentity.LoadOrCreate(_directory.Combine("outsider"));
        using var outsiderDeviceKey = outsider.Certificate.GetECDsaPrivateKey()!;
        using var notTheNetworksKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var timestamp = _time.GetUtcNow().ToUnixTimeMilliseconds();
        var nonce = Sign()[TrackerHeaders.Nonce];
        var transcript = TrackerSignature.Transcript(Method, PathAndQuery, Host, timestamp, nonce, SHA256.HashData(Body), outsider.DeviceId.Value.ToHex(), _networkKey.Tag);
        var headers = new Dictionary<string, string>
        {
            [TrackerHeaders.Certificate] = Convert.ToBase64String(outsider.Certificate.RawData),
            [TrackerHeaders.NetworkKey] = Convert.ToBase64String(_networkKey.PublicKey),
            [TrackerHeaders.Timestamp] = timestamp.ToString(CultureInfo.InvariantCulture),
            [TrackerHeaders.Nonce] = nonce,
            [TrackerHeaders.DeviceSignature] = Convert.ToBase64String(outsiderDeviceKey.SignData(transcript, HashAlgorithmName.SHA256)),
            [TrackerHeaders.NetworkSignature] = Convert.ToBase64String(notTheNetworksKey.SignData(transcript, HashAlgorithmName.SHA256)),
        };

        var result = Verify(headers);

        Assert.Equal(401, result.Status);
        Assert.Null(result.Sender);
        Assert.Contains("membership", result.Error, StringComparison.Ordinal);

        // A signature of another network's request does not carry over either: its transcript names the other network.
        using var otherNetwork = NetworkTrackerKey.Derive(NetworkMembership.CreateNew());
        using var otherSigner = new TrackerRequestSigner(outsider.Certificate, otherNetwork, _time);
        var signedForOther = Sign(otherSigner);
        var claimed = headers.ToDictionary();
        claimed[TrackerHeaders.NetworkSignature] = signedForOther[TrackerHeaders.NetworkSignature];
        var replayed = Verify(claimed);
        Assert.Equal(401, replayed.Status);
        Assert.Contains("membership", replayed.Error, StringComparison.Ordinal);
    }

    [Fact]
    public void ARequestMoreThanTwoMinutesFromTheTrackersClockIsStale()
    {
        var headers = Sign();
        var signedAt = _time.GetUtcNow();
        var skew = TrackerRequestVerifier.MaxClockSkew;
        Assert.Equal(TimeSpan.FromMinutes(2), skew);

        Assert.Equal(200, Verify(headers, now: signedAt + skew).Status);
        Assert.Equal(200, Verify(headers, now: signedAt - skew).Status);
        foreach (var now in new[] { signedAt + skew + TimeSpan.FromMilliseconds(1), signedAt - skew - TimeSpan.FromMilliseconds(1), signedAt + TimeSpan.FromDays(1) })
        {
            var result = Verify(headers, now: now);
            Assert.Equal(401, result.Status);
            Assert.Null(result.Sender);
            Assert.Contains("stale", result.Error, StringComparison.Ordinal);
        }
    }

    [Theory]
    [InlineData(TrackerHeaders.Certificate, "not base64!")]
    [InlineData(TrackerHeaders.Certificate, "AAAA")]
    [InlineData(TrackerHeaders.NetworkKey, "not base64!")]
    [InlineData(TrackerHeaders.NetworkKey, "AAAA")]
    [InlineData(TrackerHeaders.DeviceSignature, "not base64!")]
    [InlineData(TrackerHeaders.NetworkSignature, "not base64!")]
    [InlineData(TrackerHeaders.Timestamp, "soon")]
    [InlineData(TrackerHeaders.Timestamp, "-1")]
    [InlineData(TrackerHeaders.Timestamp, "99999999999999999999")]
    [InlineData(TrackerHeaders.Timestamp, "253402300800000")]
    [InlineData(TrackerHeaders.Nonce, "short")]
    [InlineData(TrackerHeaders.Nonce, "AAAAAAAAAAAAAAAAAAAA+/")]
    public void AMalformedHeaderIsABadRequest(string name, string value)
    {
        var headers = Sign();
        headers[name] = value;

        var result = Verify(headers);

        Assert.Equal(400, result.Status);
        Assert.Null(result.Sender);
        Assert.StartsWith("malformed request", result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public void OversizedKeyHeadersAreBadRequests()
    {
        var longCertificate = Sign();
        longCertificate[TrackerHeaders.Certificate] = new string('A', 4100);
        var longKey = Sign();
        longKey[TrackerHeaders.NetworkKey] = Convert.ToBase64String(new byte[400]);

        foreach (var headers in new[] { longCertificate, longKey })
        {
            var result = Verify(headers);
            Assert.Equal(400, result.Status);
            Assert.Contains("too long", result.Error, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void ACertificateWithAnotherKindOfKeyIsABadRequest()
    {
        using var rsa = RSA.Create(2048);
        using var rsaCertificate = new CertificateRequest("CN=rsa", rsa, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1)
            .CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(1));
        using var p384 = ECDsa.Create(ECCurve.NamedCurves.nistP384);
        using var p384Certificate = new CertificateRequest("CN=p384", p384, HashAlgorithmName.SHA384)
            .CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(1));

        foreach (var certificate in new[] { rsaCertificate, p384Certificate })
        {
            var headers = Sign();
            headers[TrackerHeaders.Certificate] = Convert.ToBase64String(certificate.RawData);
            var result = Verify(headers);
            Assert.Equal(400, result.Status);
            Assert.Contains("P-256", result.Error, StringComparison.Ordinal);
        }

        Assert.Throws<ArgumentException>(() => new TrackerRequestSigner(rsaCertificate, _networkKey, _time));
    }

    [Fact]
    public void ANetworkKeyOnAnotherCurveIsABadRequest()
    {
        // A brainpoolP256r1 key is as long as a P-256 one, and P-256 given by explicit parameters carries no curve
        // name: only the named curve, the form members send, is accepted.
        using var p384 = ECDsa.Create(ECCurve.NamedCurves.nistP384);
        using var brainpool = ECDsa.Create(ECCurve.NamedCurves.brainpoolP256r1);
        using var p256 = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        using var explicitP256 = ECDsa.Create(p256.ExportExplicitParameters(includePrivateParameters: false));
        foreach (var key in new[] { p384, brainpool, explicitP256 })
        {
            var headers = Sign();
            headers[TrackerHeaders.NetworkKey] = Convert.ToBase64String(key.ExportSubjectPublicKeyInfo());

            var result = Verify(headers);

            Assert.Equal(400, result.Status);
            Assert.Contains("P-256", result.Error, StringComparison.Ordinal);
        }
    }

    private Dictionary<string, string> Sign(TrackerRequestSigner? signer = null) =>
        (signer ?? _signer).Sign(Method, PathAndQuery, Host, Body).ToDictionary();

    private TrackerVerification Verify(
        IReadOnlyDictionary<string, string> headers,
        string method = Method,
        string pathAndQuery = PathAndQuery,
        string host = Host,
        byte[]? body = null,
        DateTimeOffset? now = null) =>
        _verifier.Verify(name => headers.GetValueOrDefault(name), method, pathAndQuery, host, body ?? Body, now ?? _time.GetUtcNow());

    private static void AssertBadSignature(TrackerVerification result)
    {
        Assert.Equal(401, result.Status);
        Assert.Null(result.Sender);
        Assert.StartsWith("bad signature", result.Error, StringComparison.Ordinal);
    }
}
