using System.Collections.Concurrent;
using System.Globalization;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using Shoal.Core;

namespace Shoal.Net.Tracking;

public static class TrackerHeaders
{
    /// <summary>The sender's device certificate (base64 DER): its SHA-256 is the device id.</summary>
    public const string Certificate = "Shoal-Certificate";

    /// <summary>The network's tracker public key (base64 SubjectPublicKeyInfo): its SHA-256 is the network tag.</summary>
    public const string NetworkKey = "Shoal-Network-Key";

    /// <summary>Unix milliseconds when the request was signed.</summary>
    public const string Timestamp = "Shoal-Timestamp";

    /// <summary>16 random bytes (base64url): a request is accepted once.</summary>
    public const string Nonce = "Shoal-Nonce";

    public const string DeviceSignature = "Shoal-Device-Signature";
    public const string NetworkSignature = "Shoal-Network-Signature";

    public static IReadOnlyList<string> All { get; } = [Certificate, NetworkKey, Timestamp, Nonce, DeviceSignature, NetworkSignature];
}

/// <summary>
/// The network's key for talking to trackers: an ECDSA P-256 key derived from the network secret, so every member
/// computes the same one and nobody else can. A tracker sees only its public half and signatures made with it: it
/// can check that a request comes from a member, and group members by the key's hash (the network tag), but it
/// learns nothing that proves membership to a peer (that needs the secret's HMAC key, an independent derivation) and
/// cannot sign a request itself.
/// </summary>
public sealed class NetworkTrackerKey : IDisposable
{
    private const string Purpose = "tracker network key";
    private readonly ECDsa _key;

    private NetworkTrackerKey(ECDsa key)
    {
        _key = key;
        PublicKey = key.ExportSubjectPublicKeyInfo();
        Tag = TagOf(PublicKey);
    }

    /// <summary>SubjectPublicKeyInfo DER of the public key.</summary>
    public byte[] PublicKey { get; }

    /// <summary>The network as a tracker knows it: hex SHA-256 of <see cref="PublicKey"/>.</summary>
    public string Tag { get; }

    public static NetworkTrackerKey Derive(NetworkMembership membership)
    {
        // A 256-bit HKDF output is a valid P-256 scalar unless it is 0 or ≥ n (odds about 2^-32); the counter moves on.
        for (var attempt = 0; ; attempt++)
        {
            var scalar = membership.DeriveKey(attempt == 0 ? Purpose : $"{Purpose} {attempt}", 32);
            try
            {
                return new NetworkTrackerKey(ECDsa.Create(new ECParameters { Curve = ECCurve.NamedCurves.nistP256, D = scalar }));
            }
            catch (CryptographicException) when (attempt < 8)
            {
                // Out of range: try the next derivation.
            }
            finally
            {
                CryptographicOperations.ZeroMemory(scalar);
            }
        }
    }

    internal byte[] Sign(ReadOnlySpan<byte> data) => _key.SignData(data, HashAlgorithmName.SHA256);

    /// <summary>The network tag of a public key: hex SHA-256 of its SubjectPublicKeyInfo.</summary>
    public static string TagOf(ReadOnlySpan<byte> publicKey) => Convert.ToHexStringLower(SHA256.HashData(publicKey));

    /// <summary>A P-256 public key from its SubjectPublicKeyInfo, or null for anything else.</summary>
    internal static ECDsa? ImportPublic(ReadOnlySpan<byte> spki)
    {
        var key = ECDsa.Create();
        try
        {
            key.ImportSubjectPublicKeyInfo(spki, out var read);
            // The named curve, not the key size: brainpoolP256r1 keys are 256 bits too. A key given with explicit
            // curve parameters has no curve OID at all; members always send the named form.
            if (read != spki.Length || key.ExportParameters(false).Curve.Oid?.Value != ECCurve.NamedCurves.nistP256.Oid.Value)
            {
                throw new CryptographicException("not a P-256 key");
            }

            return key;
        }
        catch (Exception e) when (e is CryptographicException or PlatformNotSupportedException)
        {
            // OpenSSL refuses curves it does not know with PlatformNotSupportedException: to a verifier, just a bad key.
            key.Dispose();
            return null;
        }
    }

    public void Dispose() => _key.Dispose();
}

/// <summary>Signs tracker requests for one device of one network.</summary>
public sealed class TrackerRequestSigner(X509Certificate2 deviceCertificate, NetworkTrackerKey networkKey, TimeProvider time) : IDisposable
{
    private readonly ECDsa _deviceKey = deviceCertificate.GetECDsaPrivateKey() ?? throw new ArgumentException("the device certificate has no ECDSA private key", nameof(deviceCertificate));
    private readonly string _certificate = Convert.ToBase64String(deviceCertificate.RawData);
    private readonly string _networkKey = Convert.ToBase64String(networkKey.PublicKey);
    private readonly string _device = TrackerDeviceId.Format(DeviceId.FromCertificate(deviceCertificate.RawData));

    public string NetworkTag => networkKey.Tag;

    /// <summary>The headers that make a request to <paramref name="host"/> (the URL's authority) authentic.</summary>
    public IReadOnlyList<KeyValuePair<string, string>> Sign(string method, string pathAndQuery, string host, ReadOnlySpan<byte> body)
    {
        var timestamp = time.GetUtcNow().ToUnixTimeMilliseconds();
        var nonce = Base64Url(RandomNumberGenerator.GetBytes(16));
        var transcript = TrackerSignature.Transcript(method, pathAndQuery, host, timestamp, nonce, SHA256.HashData(body), _device, networkKey.Tag);
        return
        [
            new(TrackerHeaders.Certificate, _certificate),
            new(TrackerHeaders.NetworkKey, _networkKey),
            new(TrackerHeaders.Timestamp, timestamp.ToString(CultureInfo.InvariantCulture)),
            new(TrackerHeaders.Nonce, nonce),
            new(TrackerHeaders.DeviceSignature, Convert.ToBase64String(_deviceKey.SignData(transcript, HashAlgorithmName.SHA256))),
            new(TrackerHeaders.NetworkSignature, Convert.ToBase64String(networkKey.Sign(transcript))),
        ];
    }

    public void Dispose() => _deviceKey.Dispose();

    internal static string Base64Url(ReadOnlySpan<byte> bytes) =>
        Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');
}

/// <summary>Who sent a request whose signatures verified.</summary>
/// <param name="Device">Hex SHA-256 of the sender's certificate (the device id's bytes).</param>
/// <param name="Network">The network tag: hex SHA-256 of the network's tracker public key.</param>
public sealed record TrackerSender(DeviceId Device, string DeviceHex, string Network, string Nonce, DateTimeOffset SignedAt);

/// <summary>The verdict on a request: its sender, or a status and reason to refuse it with.</summary>
public readonly record struct TrackerVerification(TrackerSender? Sender, int Status, string? Error)
{
    public static TrackerVerification Refuse(int status, string error) => new(null, status, error);
}

/// <summary>
/// Checks a tracker request's signatures. The transcript covers the method, path and query, host, time, nonce, the
/// body's SHA-256, the device and the network, and is signed twice: by the device's certificate key (who sends it)
/// and by the network key (that the sender is a member). Changing any byte of these breaks both; a request older or
/// newer than <see cref="MaxClockSkew"/> is refused, and within that window the caller refuses a nonce seen before.
/// Parsed keys are cached by their exact header text, so a busy tracker parses each device's certificate once.
/// </summary>
public sealed class TrackerRequestVerifier
{
    public static readonly TimeSpan MaxClockSkew = TimeSpan.FromMinutes(2);

    private const int MaxCertificateChars = 4096;
    private const int MaxKeyChars = 512;
    private const int MaxCachedKeys = 50_000;

    private readonly ConcurrentDictionary<string, DeviceKey> _certificates = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, NetworkKey> _networkKeys = new(StringComparer.Ordinal);

    public TrackerVerification Verify(Func<string, string?> header, string method, string pathAndQuery, string host, ReadOnlySpan<byte> body, DateTimeOffset now)
    {
        foreach (var name in TrackerHeaders.All)
        {
            if (string.IsNullOrEmpty(header(name))) return TrackerVerification.Refuse(401, $"unsigned request: the {name} header is missing");
        }

        var certificateText = header(TrackerHeaders.Certificate)!;
        var networkKeyText = header(TrackerHeaders.NetworkKey)!;
        if (certificateText.Length > MaxCertificateChars || networkKeyText.Length > MaxKeyChars)
        {
            return TrackerVerification.Refuse(400, "malformed request: a key header is too long");
        }

        if (!long.TryParse(header(TrackerHeaders.Timestamp), NumberStyles.None, CultureInfo.InvariantCulture, out var timestamp)
            || timestamp > DateTimeOffset.MaxValue.ToUnixTimeMilliseconds())
        {
            return TrackerVerification.Refuse(400, "malformed request: the timestamp is not unix milliseconds");
        }

        var signedAt = DateTimeOffset.FromUnixTimeMilliseconds(timestamp);
        if ((now - signedAt).Duration() > MaxClockSkew)
        {
            return TrackerVerification.Refuse(401, $"stale request: signed at {signedAt:O}, more than {MaxClockSkew.TotalSeconds:0} s from the tracker's clock ({now:O})");
        }

        var nonce = header(TrackerHeaders.Nonce)!;
        if (nonce.Length != 22 || !nonce.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_'))
        {
            return TrackerVerification.Refuse(400, "malformed request: the nonce must be 16 bytes in base64url");
        }

        // Only keys that parse are cached: garbage headers cost a parse each time but never memory.
        if (!_certificates.TryGetValue(certificateText, out var device) && (device = ParseCertificate(certificateText)) is not null) _certificates[certificateText] = device;
        if (device is null) return TrackerVerification.Refuse(400, "malformed request: the certificate is not a P-256 ECDSA certificate");
        if (!_networkKeys.TryGetValue(networkKeyText, out var network) && (network = ParseNetworkKey(networkKeyText)) is not null) _networkKeys[networkKeyText] = network;
        if (network is null) return TrackerVerification.Refuse(400, "malformed request: the network key is not a P-256 public key");
        TrimCaches();

        if (!TryBase64(header(TrackerHeaders.DeviceSignature)!, out var deviceSignature)
            || !TryBase64(header(TrackerHeaders.NetworkSignature)!, out var networkSignature))
        {
            return TrackerVerification.Refuse(400, "malformed request: a signature is not base64");
        }

        var transcript = TrackerSignature.Transcript(method, pathAndQuery, host, timestamp, nonce, SHA256.HashData(body), device.Hex, network.Tag);
        if (!device.Key.VerifyData(transcript, deviceSignature, HashAlgorithmName.SHA256))
        {
            return TrackerVerification.Refuse(401, "bad signature: the request was changed or not signed by the certificate's key");
        }

        if (!network.Key.VerifyData(transcript, networkSignature, HashAlgorithmName.SHA256))
        {
            return TrackerVerification.Refuse(401, "bad signature: the sender did not prove membership of the network");
        }

        return new TrackerVerification(new TrackerSender(device.Id, device.Hex, network.Tag, nonce, signedAt), 200, null);
    }

    private void TrimCaches()
    {
        // Bounded by forgetting everything: a cache miss costs one parse, and a flood of distinct keys cannot grow memory.
        if (_certificates.Count > MaxCachedKeys) _certificates.Clear();
        if (_networkKeys.Count > MaxCachedKeys) _networkKeys.Clear();
    }

    private static bool TryBase64(string text, out byte[] bytes)
    {
        bytes = new byte[(text.Length * 3 / 4) + 3];
        if (!Convert.TryFromBase64String(text, bytes, out var written))
        {
            bytes = [];
            return false;
        }

        bytes = bytes[..written];
        return true;
    }

    private static DeviceKey? ParseCertificate(string text)
    {
        if (!TryBase64(text, out var der)) return null;
        try
        {
            using var certificate = X509CertificateLoader.LoadCertificate(der);
            if (!NodeIdentity.HasP256Key(certificate)) return null;
            var key = certificate.GetECDsaPublicKey();
            if (key is null) return null;
            var id = DeviceId.FromCertificate(der);
            return new DeviceKey(id, TrackerDeviceId.Format(id), key);
        }
        catch (Exception e) when (e is CryptographicException or PlatformNotSupportedException)
        {
            return null;
        }
    }

    private static NetworkKey? ParseNetworkKey(string text) =>
        TryBase64(text, out var spki) && NetworkTrackerKey.ImportPublic(spki) is { } key ? new NetworkKey(NetworkTrackerKey.TagOf(spki), key) : null;

    private sealed record DeviceKey(DeviceId Id, string Hex, ECDsa Key);

    private sealed record NetworkKey(string Tag, ECDsa Key);
}

public static class TrackerSignature
{
    private const string Label = "shoal-tracker-v1";

    /// <summary>What both signatures cover: one field per line, so no field can run into the next.</summary>
    public static byte[] Transcript(string method, string pathAndQuery, string host, long timestamp, string nonce, ReadOnlySpan<byte> bodyHash, string deviceHex, string networkTag)
    {
        var text = string.Join(
            '\n',
            Label,
            method.ToUpperInvariant(),
            pathAndQuery,
            host.ToLowerInvariant(),
            timestamp.ToString(CultureInfo.InvariantCulture),
            nonce,
            Convert.ToHexStringLower(bodyHash),
            deviceHex,
            networkTag);
        return Encoding.UTF8.GetBytes(text);
    }
}
