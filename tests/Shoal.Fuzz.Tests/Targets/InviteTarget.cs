using System.Buffers.Binary;
using System.Security.Cryptography;
using Shoal.Core;
using Shoal.Fuzz.Tests.Engine;
using Shoal.Net;

namespace Shoal.Fuzz.Tests.Targets;

/// <summary>
/// Invite codes: <see cref="InviteCode.TryParse"/> on mutated invite text. Besides mutating the text, the target
/// mutates the decoded payload and then fixes its length field and checksum, so mutants get past the envelope into
/// the body parser. Whatever parses must encode again and parse back to the same invite.
/// </summary>
internal sealed class InviteTarget() : TextTarget([InviteCode.Prefix, "shoal-invite", "SHOAL-INVITE:", "a", "2", "7", "0", "1", "8", "="], maxLength: 4096)
{
    private const int ChecksumSize = 4;

    private static readonly string LongHostName = string.Join('.', Enumerable.Repeat(new string('a', 49), 5));

    private readonly ByteMutator _payloadMutator = new(4096);

    public override string Name => "invites";

    public override IReadOnlyList<string> ValidSeeds { get; } =
    [
        new InviteCode(Corpus.Membership, Corpus.Alice, "Zoë's laptop", ["192.0.2.7:22000", "[2001:db8::1]:22000", "[::1]:4242", "node.example.org:22000"]).Encode(),
        new InviteCode(Corpus.Membership, Corpus.Bob, "", []).Encode(),
        new InviteCode(Corpus.Membership, default, string.Concat(Enumerable.Repeat("é", InviteCode.MaxNameBytes / 2)),
            [.. Enumerable.Range(1, InviteCode.MaxAddresses).Select(i => $"10.0.0.{i}:{i}")]).Encode(),
        new InviteCode(Corpus.Membership, Corpus.Alice, "🐟 n", [LongHostName + ":65535", "localhost:1", "[::ffff:192.0.2.1]:80"]).Encode(),
        "  \n" + new InviteCode(Corpus.Membership, Corpus.Alice, "wrapped", ["192.0.2.7:22000"]).Encode().ToUpperInvariant().Insert(40, "\r\n  ") + " \t\n",
    ];

    public override int StructuralPercent => 50;

    public override string? MutateStructurally(Random random, string input, string other)
    {
        if (!TryPayload(input, out var payload)) return null;
        TryPayload(other, out var otherPayload);
        var mutated = _payloadMutator.Mutate(random, payload, otherPayload);
        if (mutated.Length >= 3 && random.Next(10) != 0) BinaryPrimitives.WriteUInt16BigEndian(mutated.AsSpan(1), (ushort)mutated.Length);
        if (mutated.Length >= ChecksumSize && random.Next(10) != 0)
        {
            SHA256.HashData(mutated.AsSpan(0, mutated.Length - ChecksumSize))[..ChecksumSize].CopyTo(mutated.AsSpan(mutated.Length - ChecksumSize));
        }

        return InviteCode.Prefix + Base32.Encode(mutated, lowerCase: random.Next(4) != 0);
    }

    public override Outcome Execute(string input)
    {
        if (!InviteCode.TryParse(input, out var invite, out var error))
        {
            if (string.IsNullOrEmpty(error)) throw new InvariantViolationException("refused without saying why");
            var body = error.StartsWith("The invite is malformed", StringComparison.Ordinal);
            return Outcome.Refused($"{Signature.Normalize(error)}{(body ? " " + Shape(input) : "")}");
        }

        string again;
        try
        {
            again = invite.Encode();
        }
        catch (Exception e) when (e is ArgumentException or FormatException)
        {
            throw new InvariantViolationException($"a parsed invite does not encode again: {e.Message}");
        }

        if (!InviteCode.TryParse(again, out var reparsed, out error)
            || reparsed.Network != invite.Network
            || !reparsed.Membership.Secret.SequenceEqual(invite.Membership.Secret)
            || reparsed.Inviter != invite.Inviter
            || reparsed.InviterName != invite.InviterName
            || !reparsed.Addresses.SequenceEqual(invite.Addresses))
        {
            throw new InvariantViolationException($"a parsed invite does not survive encoding and parsing again ({error})");
        }

        var kinds = string.Concat(invite.Addresses.Take(6).Select(a => InviteCode.TryParseAddress(a, out var endPoint) ? endPoint.GetType().Name[0] : '!'));
        return Outcome.Accepted($"ok name {Signature.Bucket(invite.InviterName.Length)} addresses {invite.Addresses.Count} {kinds}");
    }

    /// <summary>
    /// Body errors are all "malformed", so the signature adds where the payload's own fields point: its length, the
    /// version, the name length and the address count, coarsely. Mutants that differ there join the corpus.
    /// </summary>
    private static string Shape(string input)
    {
        const int nameAt = 3 + 16 + 32 + 32;
        if (!TryPayload(input, out var payload)) return "";
        if (payload.Length <= nameAt) return $"payload {Signature.Bucket(payload.Length)}";
        var countAt = nameAt + 1 + payload[nameAt];
        var count = countAt < payload.Length ? Math.Min((int)payload[countAt], 17).ToString(System.Globalization.CultureInfo.InvariantCulture) : "-";
        return $"payload {Signature.Bucket(payload.Length)} v{(payload[0] == InviteCode.FormatVersion ? "1" : "?")} name {Signature.Bucket(payload[nameAt])} count {count}";
    }

    private static bool TryPayload(string text, out byte[] payload)
    {
        payload = [];
        var trimmed = text.Trim();
        if (!trimmed.StartsWith(InviteCode.Prefix, StringComparison.OrdinalIgnoreCase)) return false;
        var body = string.Concat(trimmed[InviteCode.Prefix.Length..].Where(c => !char.IsWhiteSpace(c)));
        return Base32.TryDecode(body, out payload);
    }
}
