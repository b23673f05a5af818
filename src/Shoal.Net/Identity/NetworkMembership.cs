using System.Security.Cryptography;
using System.Text;
using Shoal.Core;
using Shoal.Protocol;
using Shoal.Storage;

namespace Shoal.Net;

/// <summary>
/// Membership of one network: its public id and the 32-byte secret every member holds. Knowing the secret is what
/// makes a peer a member; it never leaves this process except inside an invite.
/// </summary>
public sealed class NetworkMembership
{
    public const int SecretSize = 32;
    public const int ProofSize = Auth.ProofSize;

    private const string FileHeader = "shoal-network v1";
    private const string NetworkKey = "network";
    private const string SecretKey = "secret";
    private const string DerivedKeyInfoPrefix = "shoal derived key v1:";
    private const byte ClientRole = 1;
    private const byte ServerRole = 2;

    private static readonly byte[] ProofKeyInfo = "shoal membership v1"u8.ToArray();
    private static readonly byte[] ProofLabel = "shoal membership proof v1"u8.ToArray();

    private readonly byte[] _secret;
    private readonly byte[] _proofKey;

    public NetworkMembership(NetworkId network, ReadOnlySpan<byte> secret)
    {
        if (secret.Length != SecretSize)
        {
            throw new ArgumentException($"A network secret has {SecretSize} bytes, not {secret.Length}.", nameof(secret));
        }

        Network = network;
        _secret = secret.ToArray();
        _proofKey = HKDF.DeriveKey(HashAlgorithmName.SHA256, _secret, SHA256.HashSizeInBytes, network.ToArray(), ProofKeyInfo);
    }

    public NetworkId Network { get; }

    public ReadOnlySpan<byte> Secret => _secret;

    public static NetworkMembership CreateNew() => new(NetworkId.New(), RandomNumberGenerator.GetBytes(SecretSize));

    /// <summary>
    /// Proves to the peer at the other end of one TLS session that this side knows the network secret.
    /// <para>
    /// The proof is an HMAC-SHA256, keyed with a key derived from the secret, over a transcript of: a label, the
    /// prover's role, both sides' nonces, both sides' device ids and the network id. It is bound to the session:
    /// each side contributes a fresh random nonce, so a proof recorded from another session does not verify here;
    /// the device ids are the SHA-256 of the two TLS certificates, which the handshake authenticated (each side
    /// signed with its certificate's key). A man in the middle holds neither real key, so it must present its own
    /// certificates; the two real peers then compute transcripts with different device ids, and a proof relayed
    /// from one does not verify at the other. The role keeps a side's proof from being reflected back to it as the
    /// other side's. Only the HMAC crosses the wire, never the secret.
    /// </para>
    /// </summary>
    /// <param name="isClient">Whether the proving side is the TLS client.</param>
    /// <param name="clientNonce">The TLS client's <see cref="Hello.Nonce"/>.</param>
    /// <param name="serverNonce">The TLS server's <see cref="Hello.Nonce"/>.</param>
    public byte[] ComputeProof(
        bool isClient, ReadOnlySpan<byte> clientNonce, ReadOnlySpan<byte> serverNonce, DeviceId clientDevice, DeviceId serverDevice)
    {
        if (clientNonce.Length != Hello.NonceSize || serverNonce.Length != Hello.NonceSize)
        {
            throw new ArgumentException($"Both nonces must be {Hello.NonceSize} bytes.");
        }

        return ComputeProofUnchecked(isClient, clientNonce, serverNonce, clientDevice, serverDevice);
    }

    /// <summary>
    /// Checks a proof the peer sent, against the transcript as this side sees it. <paramref name="isClient"/> is
    /// the role of the side that made the proof (the peer). Malformed input is simply not a valid proof.
    /// </summary>
    public bool VerifyProof(
        bool isClient,
        ReadOnlySpan<byte> clientNonce,
        ReadOnlySpan<byte> serverNonce,
        DeviceId clientDevice,
        DeviceId serverDevice,
        ReadOnlySpan<byte> proof)
    {
        if (clientNonce.Length != Hello.NonceSize || serverNonce.Length != Hello.NonceSize || proof.Length != ProofSize)
        {
            return false;
        }

        var expected = ComputeProofUnchecked(isClient, clientNonce, serverNonce, clientDevice, serverDevice);
        return CryptographicOperations.FixedTimeEquals(expected, proof);
    }

    /// <summary>
    /// A key for another use of the secret (for example discovery tags), independent of the proof key and of the
    /// keys for every other <paramref name="purpose"/>.
    /// </summary>
    public byte[] DeriveKey(string purpose, int length)
    {
        ArgumentException.ThrowIfNullOrEmpty(purpose);
        var info = Encoding.UTF8.GetBytes(DerivedKeyInfoPrefix + purpose);
        return HKDF.DeriveKey(HashAlgorithmName.SHA256, _secret, length, Network.ToArray(), info);
    }

    /// <summary>Writes the membership atomically to a file only the owner can read: the secret is a credential.</summary>
    public void Save(string path)
    {
        var directory = Path.GetDirectoryName(Path.GetFullPath(path))!;
        AtomicFile.CreatePrivateDirectory(directory);
        var text = new StringBuilder()
            .Append(FileHeader).Append('\n')
            .Append(NetworkKey).Append(' ').Append(Network).Append('\n')
            .Append(SecretKey).Append(' ').Append(Base32.Encode(_secret, lowerCase: true)).Append('\n')
            .ToString();
        AtomicFile.WriteAllText(path, text, AtomicFile.OwnerOnly);
    }

    /// <summary>Reads a file written by <see cref="Save"/>; throws <see cref="InvalidDataException"/> if it is damaged.</summary>
    public static NetworkMembership Load(string path)
    {
        var lines = File.ReadAllLines(path)
            .Select(line => line.Trim())
            .Where(line => line.Length > 0)
            .ToList();
        if (lines.Count == 0 || lines[0] != FileHeader)
        {
            throw new InvalidDataException($"'{path}' is not a Shoal network file (it must start with '{FileHeader}').");
        }

        string? networkText = null, secretText = null;
        foreach (var line in lines.Skip(1))
        {
            var space = line.IndexOf(' ', StringComparison.Ordinal);
            var key = space < 0 ? line : line[..space];
            var value = space < 0 ? "" : line[(space + 1)..].Trim();
            switch (key)
            {
                case NetworkKey when networkText is null:
                    networkText = value;
                    break;
                case SecretKey when secretText is null:
                    secretText = value;
                    break;
                default:
                    throw new InvalidDataException($"'{path}' has an unexpected or repeated line '{key} ...'.");
            }
        }

        if (networkText is null || !NetworkId.TryParse(networkText, out var network))
        {
            throw new InvalidDataException($"'{path}' has no valid '{NetworkKey}' line.");
        }

        if (secretText is null || !Base32.TryDecode(secretText, out var secret) || secret.Length != SecretSize)
        {
            throw new InvalidDataException($"'{path}' has no valid '{SecretKey}' line.");
        }

        return new NetworkMembership(network, secret);
    }

    private byte[] ComputeProofUnchecked(
        bool isClient, ReadOnlySpan<byte> clientNonce, ReadOnlySpan<byte> serverNonce, DeviceId clientDevice, DeviceId serverDevice)
    {
        Span<byte> transcript = stackalloc byte[ProofLabel.Length + 1 + (2 * Hello.NonceSize) + (2 * Hash256.Size) + NetworkId.Size];
        var at = 0;
        ProofLabel.CopyTo(transcript);
        at += ProofLabel.Length;
        transcript[at++] = isClient ? ClientRole : ServerRole;
        clientNonce.CopyTo(transcript[at..]);
        at += Hello.NonceSize;
        serverNonce.CopyTo(transcript[at..]);
        at += Hello.NonceSize;
        clientDevice.Value.CopyTo(transcript[at..]);
        at += Hash256.Size;
        serverDevice.Value.CopyTo(transcript[at..]);
        at += Hash256.Size;
        Network.CopyTo(transcript[at..]);
        return HMACSHA256.HashData(_proofKey, transcript);
    }
}
