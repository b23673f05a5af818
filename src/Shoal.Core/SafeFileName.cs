using System.Text;

namespace Shoal.Core;

/// <summary>
/// Names arrive from peers and links: a name is accepted only if it is one plain path component, so it can never
/// escape the download directory or open a device. Characters only Windows forbids (such as '?') are allowed,
/// since names like "what?.txt" are ordinary on the systems Shoal runs on.
/// </summary>
public static class SafeFileName
{
    public const int MaxLength = 255;

    private static readonly HashSet<string> ReservedDeviceNames = new(StringComparer.OrdinalIgnoreCase)
    {
        "CON", "PRN", "AUX", "NUL", "COM1", "COM2", "COM3", "COM4", "COM5", "COM6", "COM7", "COM8", "COM9",
        "LPT1", "LPT2", "LPT3", "LPT4", "LPT5", "LPT6", "LPT7", "LPT8", "LPT9",
    };

    public static bool IsValid(string? name, out string error)
    {
        if (string.IsNullOrEmpty(name))
        {
            error = "the file name is empty";
            return false;
        }

        if (name.Length > MaxLength || Encoding.UTF8.GetByteCount(name) > MaxLength)
        {
            error = "the file name is too long";
            return false;
        }

        if (name is "." or "..")
        {
            error = $"'{name}' is not a file name";
            return false;
        }

        foreach (var c in name)
        {
            if (c is '/' or '\\' or ':' || char.IsControl(c))
            {
                error = $"the file name '{Printable(name)}' contains a path separator or control character";
                return false;
            }
        }

        if (name.EndsWith(' ') || name.EndsWith('.'))
        {
            error = $"the file name '{name}' ends with a space or dot";
            return false;
        }

        var stem = name.Split('.')[0].TrimEnd();
        if (ReservedDeviceNames.Contains(stem))
        {
            error = $"the file name '{name}' is a reserved device name";
            return false;
        }

        error = "";
        return true;
    }

    /// <summary>A usable local name for an untrusted one: invalid characters replaced, never a path.</summary>
    public static string Sanitize(string? name, string fallback)
    {
        if (IsValid(name, out _)) return name!;
        if (string.IsNullOrEmpty(name)) return fallback;

        // Cut by UTF-8 bytes, not chars, and by whole runes so no surrogate pair is split; one byte stays
        // free for the '_' that defuses a reserved device name.
        var cleaned = new StringBuilder(name.Length);
        Span<char> utf16 = stackalloc char[2];
        var byteCount = 0;
        foreach (var rune in name.EnumerateRunes())
        {
            var kept = rune.Value is '/' or '\\' or ':' || Rune.IsControl(rune) ? new Rune('_') : rune;
            byteCount += kept.Utf8SequenceLength;
            if (byteCount > MaxLength - 1) break;
            cleaned.Append(utf16[..kept.EncodeToUtf16(utf16)]);
        }

        var trimmed = cleaned.ToString().Trim().TrimEnd('.', ' ');
        if (trimmed.Length == 0) return fallback;
        return IsValid(trimmed, out _) ? trimmed : "_" + trimmed;
    }

    private static string Printable(string name) => new(name.Select(c => char.IsControl(c) ? '?' : c).ToArray());
}
