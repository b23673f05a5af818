using System.Security.Cryptography;
using Shoal.Core;
using Shoal.Net.Tracking;

namespace Shoal.Net.Relay;

/// <summary>
/// Membership at a relay is proven like at a tracker: a signature by the network's tracker key, here over the relay's
/// fresh nonce. The relay learns the network tag and nothing that lets it sign, join, or read the TLS inside.
/// </summary>
public static class RelayCredentials
{
    public static RelayHello Hello(NetworkTrackerKey key, RelayRole role, DeviceId device, byte[] subject, ReadOnlySpan<byte> nonce)
    {
        ArgumentNullException.ThrowIfNull(key);
        return new RelayHello(role, device, subject, key.PublicKey, key.Sign(RelayFrames.Transcript(nonce, role, device, subject)));
    }

    /// <summary>The network tag the hello proves membership of, or null when the key or the signature is not good.</summary>
    public static string? Verify(RelayHello hello, ReadOnlySpan<byte> nonce)
    {
        ArgumentNullException.ThrowIfNull(hello);
        using var key = NetworkTrackerKey.ImportPublic(hello.NetworkKey);
        if (key is null) return null;
        var transcript = RelayFrames.Transcript(nonce, hello.Role, hello.Device, hello.Subject);
        return key.VerifyData(transcript, hello.Signature, HashAlgorithmName.SHA256) ? NetworkTrackerKey.TagOf(hello.NetworkKey) : null;
    }
}
