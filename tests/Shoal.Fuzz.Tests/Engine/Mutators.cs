using System.Buffers.Binary;
using System.Text;

namespace Shoal.Fuzz.Tests.Engine;

/// <summary>Makes a new input from a corpus entry (and another one, for splicing).</summary>
public interface IMutator<T>
{
    T Mutate(Random random, T input, T other);
}

/// <summary>
/// Generic byte mutations: bit flips, interesting bytes and integers (little and big endian), small arithmetic on
/// length-like fields, inserted, deleted and duplicated ranges, truncation and splicing. A few are stacked per input.
/// </summary>
public sealed class ByteMutator(int maxLength = ByteMutator.DefaultMaxLength) : IMutator<byte[]>
{
    public const int DefaultMaxLength = 64 * 1024;

    private static readonly byte[] InterestingBytes = [0x00, 0x01, 0x7F, 0x80, 0xFE, 0xFF, 0x20, 0x2F, 0x2E, 0x40, 0x10];

    /// <summary>Boundaries of the integer types and of the protocol's own limits (counts, lengths, the frame limit).</summary>
    private static readonly ulong[] InterestingIntegers =
    [
        0, 1, 2, 0x7F, 0x80, 0xFF, 0x100, 0x3FF, 0x400, 0xFFF, 0x1000, 0x1001, 0x7FFF, 0x8000, 0xFFFF, 0x10000,
        0x10_0000, 0x10_0001, 0x40_0000, 0x40_0040, 0x40_0041, 0x40_0045, 0x7FFF_FFFF, 0x8000_0000, 0xFFFF_FFFF,
        0x1_0000_0000, 0x7FFF_FFFF_FFFF_FFFF, 0x8000_0000_0000_0000, ulong.MaxValue, ulong.MaxValue - 1,
    ];

    public byte[] Mutate(Random random, byte[] input, byte[] other)
    {
        var bytes = new List<byte>(input);
        var count = MutationCount(random);
        for (var i = 0; i < count; i++) MutateOnce(random, bytes, other);
        if (bytes.Count > maxLength) bytes.RemoveRange(maxLength, bytes.Count - maxLength);
        return [.. bytes];
    }

    /// <summary>1 most often, sometimes up to 8: small steps keep most of the structure, big ones jump further.</summary>
    public static int MutationCount(Random random)
    {
        var count = 1;
        while (count < 8 && random.Next(3) == 0) count++;
        return count;
    }

    private void MutateOnce(Random random, List<byte> bytes, byte[] other)
    {
        switch (random.Next(14))
        {
            case 0 when bytes.Count > 0:
                bytes[random.Next(bytes.Count)] ^= (byte)(1 << random.Next(8));
                break;
            case 1 when bytes.Count > 0:
                bytes[random.Next(bytes.Count)] = InterestingBytes[random.Next(InterestingBytes.Length)];
                break;
            case 2 when bytes.Count > 0:
                bytes[random.Next(bytes.Count)] = (byte)random.Next(256);
                break;
            case 3 when bytes.Count > 0:
                OverwriteInteger(random, bytes, InterestingInteger(random));
                break;
            case 4 when bytes.Count > 0:
                AddToInteger(random, bytes);
                break;
            case 5:
                var inserted = new byte[random.Next(1, 17)];
                random.NextBytes(inserted);
                bytes.InsertRange(random.Next(bytes.Count + 1), inserted);
                break;
            case 6:
                var width = IntegerWidth(random);
                var integer = new byte[width];
                WriteInteger(integer, InterestingInteger(random), random.Next(2) == 0);
                bytes.InsertRange(random.Next(bytes.Count + 1), integer);
                break;
            case 7 when bytes.Count > 0:
                var at = random.Next(bytes.Count);
                bytes.RemoveRange(at, Math.Min(bytes.Count - at, RangeLength(random)));
                break;
            case 8 when bytes.Count > 0:
                // Duplicate a range elsewhere: repeats fields, records and frames.
                var from = random.Next(bytes.Count);
                var length = Math.Min(bytes.Count - from, RangeLength(random));
                var copy = bytes.GetRange(from, length);
                var times = random.Next(4) == 0 ? random.Next(2, 64) : 1;
                for (var t = 0; t < times && bytes.Count < maxLength; t++) bytes.InsertRange(random.Next(bytes.Count + 1), copy);
                break;
            case 9 when bytes.Count > 0:
                // Drop a head: what a reader sees when it starts in the middle of a stream.
                bytes.RemoveRange(0, random.Next(1, Math.Min(bytes.Count, 64) + 1));
                break;
            case 10 when bytes.Count > 0:
                var cut = random.Next(bytes.Count + 1);
                bytes.RemoveRange(cut, bytes.Count - cut);
                break;
            case 11 when other.Length > 0:
                // Splice: our head, the other entry's tail.
                var keep = random.Next(bytes.Count + 1);
                var tailFrom = random.Next(other.Length);
                bytes.RemoveRange(keep, bytes.Count - keep);
                bytes.AddRange(other.AsSpan(tailFrom).ToArray());
                break;
            case 12 when other.Length > 0:
                // Copy a range of the other entry over ours.
                var source = random.Next(other.Length);
                var run = Math.Min(other.Length - source, RangeLength(random));
                var target = random.Next(bytes.Count + 1);
                for (var k = 0; k < run; k++)
                {
                    if (target + k < bytes.Count) bytes[target + k] = other[source + k];
                    else bytes.Add(other[source + k]);
                }

                break;
            default:
                if (bytes.Count > 0) bytes[random.Next(bytes.Count)] = (byte)(bytes[random.Next(bytes.Count)] + random.Next(-3, 4));
                break;
        }
    }

    private static int RangeLength(Random random) => random.Next(4) == 0 ? random.Next(1, 512) : random.Next(1, 17);

    private static int IntegerWidth(Random random) => random.Next(4) switch
    {
        0 => 1,
        1 => 2,
        2 => 4,
        _ => 8,
    };

    private static ulong InterestingInteger(Random random)
    {
        var value = InterestingIntegers[random.Next(InterestingIntegers.Length)];
        return random.Next(3) switch
        {
            0 => value,
            1 => value + (ulong)random.Next(-2, 3),
            _ => unchecked(0UL - value),
        };
    }

    private static void OverwriteInteger(Random random, List<byte> bytes, ulong value)
    {
        var width = Math.Min(IntegerWidth(random), bytes.Count);
        Span<byte> buffer = stackalloc byte[8];
        WriteInteger(buffer[..width], value, random.Next(2) == 0);
        var at = random.Next(bytes.Count - width + 1);
        for (var i = 0; i < width; i++) bytes[at + i] = buffer[i];
    }

    /// <summary>Nudges a big-endian u16 or u32 (the protocol's lengths and counts) by a small amount.</summary>
    private static void AddToInteger(Random random, List<byte> bytes)
    {
        var width = random.Next(2) == 0 ? 2 : 4;
        if (bytes.Count < width) return;
        var at = random.Next(bytes.Count - width + 1);
        Span<byte> buffer = stackalloc byte[4];
        for (var i = 0; i < width; i++) buffer[i] = bytes[at + i];
        var delta = random.Next(-16, 17);
        if (width == 2) BinaryPrimitives.WriteUInt16BigEndian(buffer, (ushort)(BinaryPrimitives.ReadUInt16BigEndian(buffer) + delta));
        else BinaryPrimitives.WriteUInt32BigEndian(buffer, (uint)(BinaryPrimitives.ReadUInt32BigEndian(buffer) + delta));
        for (var i = 0; i < width; i++) bytes[at + i] = buffer[i];
    }

    private static void WriteInteger(Span<byte> destination, ulong value, bool bigEndian)
    {
        for (var i = 0; i < destination.Length; i++)
        {
            var shift = 8 * (bigEndian ? destination.Length - 1 - i : i);
            destination[i] = (byte)(value >> shift);
        }
    }
}

/// <summary>
/// Generic text mutations: characters replaced and inserted, special strings (path tricks, escapes, huge numbers,
/// surrogates and other awkward Unicode), long runs, deleted and duplicated ranges, truncation and splicing.
/// </summary>
public sealed class TextMutator(IReadOnlyList<string>? extraSpecials = null, int maxLength = TextMutator.DefaultMaxLength) : IMutator<string>
{
    public const int DefaultMaxLength = 32 * 1024;

    private static readonly string[] CommonSpecials =
    [
        "..", "/", "\\", "../", "..\\", "./", "//", "\0", "%00", "%", "%2", "%zz", "%2e%2e%2f", "%ED%A0%80", "%C0%AF", "%FF",
        "?", "&", "=", "#", ":", "::", "[", "]", "[::1]", "[::]", "0.0.0.0", "255.255.255.255", "127.0.0.1:1", "@", "%25",
        "0", "-0", "1", "-1", "65535", "65536", "2147483647", "2147483648", "-2147483649", "4294967295", "4294967296",
        "9223372036854775807", "9223372036854775808", "18446744073709551616", "99999999999999999999999999999999999999",
        "1e309", "-1e309", "NaN", "Infinity", "0x7fffffff", "1.5", "+1", " ",
        "\t", "\r", "\n", "\r\n", "\u0085", "\u00A0", "\u2028", "\u200B", "\uFEFF", "\u202E", "\uFFFD", "\uFFFF",
        "\uD800", "\uDFFF", "\uDBFF\uDFFF", "🐟", "é", "e\u0301", "ı", "İ", "ß", "\u212A", "Ａ", "ǅ", "\u0000\u0000",
        "CON", "NUL", "COM1", ".shoal-tmp.", "~", "*", "<>|\"",
    ];

    private static readonly char[] ReplacementChars =
    [
        'a', 'Z', '0', '9', '2', '7', ' ', '.', '/', '\\', ':', '?', '&', '=', '%', '+', '-', '_', '[', ']', '"', '\'',
        '{', '}', ',', '\0', '\n', '\u00e9', '\uD800', '\uDC00', '\uFFFD', '\u0130', '\u0131',
    ];

    private readonly string[] _specials = [.. CommonSpecials, .. extraSpecials ?? []];

    public string Mutate(Random random, string input, string other)
    {
        var text = new StringBuilder(input);
        var count = ByteMutator.MutationCount(random);
        for (var i = 0; i < count; i++) MutateOnce(random, text, other);
        if (text.Length > maxLength) text.Length = maxLength;
        return text.ToString();
    }

    private void MutateOnce(Random random, StringBuilder text, string other)
    {
        switch (random.Next(13))
        {
            case 0 when text.Length > 0:
                text[random.Next(text.Length)] = ReplacementChars[random.Next(ReplacementChars.Length)];
                break;
            case 1 when text.Length > 0:
                text[random.Next(text.Length)] = (char)random.Next(random.Next(2) == 0 ? 0x80 : 0x10000);
                break;
            case 2:
            case 3:
                text.Insert(random.Next(text.Length + 1), _specials[random.Next(_specials.Length)]);
                break;
            case 4 when text.Length > 0:
                // Replace a range with a special string: swaps a field's value for a hostile one.
                var at = random.Next(text.Length);
                var length = Math.Min(text.Length - at, RangeLength(random));
                text.Remove(at, length).Insert(at, _specials[random.Next(_specials.Length)]);
                break;
            case 5:
                text.Insert(random.Next(text.Length + 1), LongRun(random, text, maxLength));
                break;
            case 6 when text.Length > 0:
                var from = random.Next(text.Length);
                text.Remove(from, Math.Min(text.Length - from, RangeLength(random)));
                break;
            case 7 when text.Length > 0:
                var start = random.Next(text.Length);
                var copy = text.ToString(start, Math.Min(text.Length - start, RangeLength(random)));
                var times = random.Next(4) == 0 ? random.Next(2, 64) : 1;
                for (var t = 0; t < times && text.Length < maxLength; t++) text.Insert(random.Next(text.Length + 1), copy);
                break;
            case 8 when text.Length > 0:
                text.Length = random.Next(text.Length);
                break;
            case 9 when other.Length > 0:
                var keep = random.Next(text.Length + 1);
                text.Length = keep;
                text.Append(other.AsSpan(random.Next(other.Length)));
                break;
            case 10 when text.Length > 0:
                // Flip the case of a range: schemes, hex and base32 are case-insensitive, and ToUpper is not always reversible.
                var caseFrom = random.Next(text.Length);
                var caseEnd = Math.Min(text.Length, caseFrom + RangeLength(random));
                for (var k = caseFrom; k < caseEnd; k++) text[k] = char.IsUpper(text[k]) ? char.ToLowerInvariant(text[k]) : char.ToUpperInvariant(text[k]);
                break;
            case 11 when text.Length > 0:
                ReplaceNumber(random, text);
                break;
            default:
                var random16 = new char[random.Next(1, 9)];
                for (var k = 0; k < random16.Length; k++) random16[k] = (char)random.Next(0x20, 0x7F);
                text.Insert(random.Next(text.Length + 1), random16);
                break;
        }
    }

    private static int RangeLength(Random random) => random.Next(4) == 0 ? random.Next(1, 256) : random.Next(1, 9);

    private static string LongRun(Random random, StringBuilder text, int maxLength)
    {
        var length = random.Next(3) == 0 ? random.Next(256, Math.Max(257, Math.Min(8192, maxLength))) : random.Next(16, 300);
        var c = random.Next(3) switch
        {
            0 when text.Length > 0 => text[random.Next(text.Length)],
            1 => ReplacementChars[random.Next(ReplacementChars.Length)],
            _ => 'a',
        };
        return new string(c, length);
    }

    /// <summary>Replaces a run of digits with a boundary number: counts, ports, sizes and timestamps.</summary>
    private static void ReplaceNumber(Random random, StringBuilder text)
    {
        var at = random.Next(text.Length);
        var start = -1;
        for (var i = 0; i < text.Length; i++)
        {
            var index = (at + i) % text.Length;
            if (char.IsAsciiDigit(text[index]))
            {
                start = index;
                break;
            }
        }

        if (start < 0) return;
        while (start > 0 && char.IsAsciiDigit(text[start - 1])) start--;
        var end = start;
        while (end < text.Length && char.IsAsciiDigit(text[end])) end++;
        string[] numbers = ["0", "1", "-1", "65535", "65536", "2147483647", "2147483648", "4294967296", "9223372036854775807", "9223372036854775808", "16777216", "16777217", "1000", "1001", "10000", "10001"];
        text.Remove(start, end - start).Insert(start, numbers[random.Next(numbers.Length)]);
    }
}
