using System.Security.Cryptography;
using System.Text;

namespace Shoal.Core;

/// <summary>
/// A node's identity: the SHA-256 of its certificate. Shown as 56 base32 characters in dashed groups of seven,
/// with a Luhn mod-32 check character after every 13 data characters so a mistyped id is caught, not trusted.
/// </summary>
public readonly record struct DeviceId(Hash256 Value) : IComparable<DeviceId>
{
    private const int DataGroup = 13;

    public static DeviceId FromCertificate(ReadOnlySpan<byte> certificateDer) => new(Hash256.Compute(certificateDer));

    public static DeviceId FromBytes(ReadOnlySpan<byte> bytes) => new(new Hash256(bytes));

    public string ShortForm => ToString()[..7];

    public override string ToString()
    {
        Span<byte> raw = stackalloc byte[Hash256.Size];
        Value.CopyTo(raw);
        var data = Base32.Encode(raw);
        var withChecks = new StringBuilder(56);
        for (var i = 0; i < data.Length; i += DataGroup)
        {
            var group = data.AsSpan(i, DataGroup);
            withChecks.Append(group).Append(LuhnBase32(group));
        }

        var text = withChecks.ToString();
        var dashed = new StringBuilder(text.Length + 8);
        for (var i = 0; i < text.Length; i += 7)
        {
            if (i > 0) dashed.Append('-');
            dashed.Append(text.AsSpan(i, 7));
        }

        return dashed.ToString();
    }

    public static DeviceId Parse(string text) =>
        TryParse(text, out var id, out var error) ? id : throw new FormatException(error);

    public static bool TryParse(string? text, out DeviceId id, out string error)
    {
        id = default;
        if (string.IsNullOrWhiteSpace(text))
        {
            error = "A device ID is required.";
            return false;
        }

        var compact = new StringBuilder(56);
        foreach (var c in text.Trim())
        {
            if (c is '-' or ' ') continue;
            compact.Append(char.ToUpperInvariant(c));
        }

        string data;
        if (compact.Length == 56)
        {
            var sb = new StringBuilder(52);
            for (var i = 0; i < 56; i += DataGroup + 1)
            {
                var group = compact.ToString(i, DataGroup);
                if (LuhnBase32(group) != compact[i + DataGroup])
                {
                    error = $"Device ID '{text}' has a wrong check character: it was mistyped.";
                    return false;
                }

                sb.Append(group);
            }

            data = sb.ToString();
        }
        else if (compact.Length == 52)
        {
            data = compact.ToString();
        }
        else
        {
            error = $"Device ID '{text}' has {compact.Length} characters; expected 56 (or 52 without check characters).";
            return false;
        }

        if (!Base32.TryDecode(data, out var bytes) || bytes.Length != Hash256.Size)
        {
            error = $"Device ID '{text}' is not valid base32.";
            return false;
        }

        id = new DeviceId(new Hash256(bytes));
        error = "";
        return true;
    }

    public int CompareTo(DeviceId other) => Value.CompareTo(other.Value);

    private static char LuhnBase32(ReadOnlySpan<char> group)
    {
        const int n = 32;
        var factor = 1;
        var sum = 0;
        foreach (var c in group)
        {
            var addend = factor * Base32.ValueOf(c);
            factor = factor == 2 ? 1 : 2;
            addend = (addend / n) + (addend % n);
            sum += addend;
        }

        var remainder = sum % n;
        return Base32.CharOf((n - remainder) % n);
    }
}
