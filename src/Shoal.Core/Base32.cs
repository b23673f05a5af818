namespace Shoal.Core;

/// <summary>RFC 4648 base32 without padding. Case-insensitive on input; 0/1/8 are read as O/I/B so hand-typed ids survive.</summary>
public static class Base32
{
    private const string Alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

    public static int EncodedLength(int byteCount) => (byteCount * 8 + 4) / 5;

    public static string Encode(ReadOnlySpan<byte> data, bool lowerCase = false)
    {
        var chars = new char[EncodedLength(data.Length)];
        int buffer = 0, bits = 0, index = 0;
        foreach (var b in data)
        {
            buffer = (buffer << 8) | b;
            bits += 8;
            while (bits >= 5)
            {
                chars[index++] = Alphabet[(buffer >> (bits - 5)) & 31];
                bits -= 5;
            }
        }

        if (bits > 0)
        {
            chars[index] = Alphabet[(buffer << (5 - bits)) & 31];
        }

        var text = new string(chars);
        return lowerCase ? text.ToLowerInvariant() : text;
    }

    public static int ValueOf(char c) => char.ToUpperInvariant(c) switch
    {
        >= 'A' and <= 'Z' and var u => u - 'A',
        >= '2' and <= '7' and var d => d - '2' + 26,
        '0' => 'O' - 'A',
        '1' => 'I' - 'A',
        '8' => 'B' - 'A',
        _ => -1,
    };

    public static char CharOf(int value) => Alphabet[value];

    public static bool TryDecode(ReadOnlySpan<char> text, out byte[] bytes)
    {
        bytes = new byte[text.Length * 5 / 8];
        int buffer = 0, bits = 0, index = 0;
        foreach (var c in text)
        {
            var v = ValueOf(c);
            if (v < 0)
            {
                bytes = [];
                return false;
            }

            buffer = (buffer << 5) | v;
            bits += 5;
            if (bits >= 8)
            {
                bytes[index++] = (byte)(buffer >> (bits - 8));
                bits -= 8;
            }
        }

        // Leftover bits must be zero padding, otherwise two texts would decode to the same bytes.
        if (bits >= 5 || (buffer & ((1 << bits) - 1)) != 0)
        {
            bytes = [];
            return false;
        }

        return true;
    }
}
