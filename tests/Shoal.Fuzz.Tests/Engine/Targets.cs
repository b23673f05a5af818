using System.Globalization;
using System.Text;

namespace Shoal.Fuzz.Tests.Engine;

/// <summary>A target whose inputs are bytes (frames, packets).</summary>
public abstract class ByteTarget : FuzzTarget<byte[]>
{
    private readonly ByteMutator _mutator = new();

    public override IMutator<byte[]> Mutator => _mutator;

    public override bool SameInput(byte[] a, byte[] b) => a.AsSpan().SequenceEqual(b);

    public override string ToHex(byte[] input) => Convert.ToHexStringLower(input);

    public override byte[] FromHex(string hex) => Convert.FromHexString(hex);

    public override string Describe(byte[] input) => $"{input.Length} bytes: {(input.Length <= 2048 ? ToHex(input) : ToHex(input[..2048]) + "…")}";
}

/// <summary>
/// A target whose inputs are text (invites, links, JSON). The hex form is the UTF-16 code units, 4 digits each, so
/// lone surrogates (which UTF-8 cannot carry) replay exactly.
/// </summary>
public abstract class TextTarget(IReadOnlyList<string>? specials = null, int maxLength = TextMutator.DefaultMaxLength) : FuzzTarget<string>
{
    private readonly TextMutator _mutator = new(specials, maxLength);

    public override IMutator<string> Mutator => _mutator;

    public override bool SameInput(string a, string b) => string.Equals(a, b, StringComparison.Ordinal);

    public override string ToHex(string input)
    {
        var hex = new StringBuilder(input.Length * 4);
        foreach (var c in input) hex.Append(((int)c).ToString("x4", CultureInfo.InvariantCulture));
        return hex.ToString();
    }

    public override string FromHex(string hex)
    {
        if (hex.Length % 4 != 0) throw new FormatException("text inputs are hex UTF-16 code units, 4 digits each");
        var chars = new char[hex.Length / 4];
        for (var i = 0; i < chars.Length; i++) chars[i] = (char)int.Parse(hex.AsSpan(i * 4, 4), NumberStyles.HexNumber, CultureInfo.InvariantCulture);
        return new string(chars);
    }

    public override string Describe(string input) => $"{input.Length} chars: {Quote(input)}";

    /// <summary>A C#-style literal: control characters, surrogates and non-ASCII escaped.</summary>
    public static string Quote(string text)
    {
        var quoted = new StringBuilder(text.Length + 2).Append('"');
        foreach (var c in text)
        {
            switch (c)
            {
                case '"':
                    quoted.Append("\\\"");
                    break;
                case '\\':
                    quoted.Append("\\\\");
                    break;
                case '\n':
                    quoted.Append("\\n");
                    break;
                case >= ' ' and < (char)0x7F:
                    quoted.Append(c);
                    break;
                default:
                    quoted.Append("\\u").Append(((int)c).ToString("x4", CultureInfo.InvariantCulture));
                    break;
            }
        }

        return quoted.Append('"').ToString();
    }
}

/// <summary>Turns error messages into signatures: numbers and quoted values vary per input, the kind of error does not.</summary>
public static class Signature
{
    public const int MaxLength = 160;

    public static string Normalize(string? error)
    {
        if (string.IsNullOrEmpty(error)) return "";
        var text = new StringBuilder(Math.Min(error.Length, MaxLength));
        for (var i = 0; i < error.Length && text.Length < MaxLength; i++)
        {
            var c = error[i];
            if (char.IsAsciiDigit(c))
            {
                // 0x1f, 123, 4.5: one '#' per number.
                text.Append('#');
                while (i + 1 < error.Length && (char.IsAsciiHexDigit(error[i + 1]) || error[i + 1] is 'x' or '.' or ',' or '_')) i++;
            }
            else if (c == '\'')
            {
                // A quoted value: the input's own text.
                var end = error.IndexOf('\'', i + 1);
                text.Append("'…'");
                if (end < 0) break;
                i = end;
            }
            else
            {
                text.Append(c);
            }
        }

        return text.ToString();
    }

    /// <summary>0, 1, 2-3, 4-7, …: how many of something, coarsely, so counts add few signatures.</summary>
    public static int Bucket(long count) => count <= 0 ? 0 : 64 - (int)long.LeadingZeroCount(count);
}
