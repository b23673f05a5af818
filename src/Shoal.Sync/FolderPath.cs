using System.Text;
using Shoal.Core;

namespace Shoal.Sync;

/// <summary>
/// Paths inside a synced folder as they travel between nodes: relative, '/'-separated, every component a safe
/// file name. Anything a peer sends is checked here before it touches the disk.
/// </summary>
public static class FolderPath
{
    /// <summary>UTF-8 bytes; the wire format allows no more.</summary>
    public const int MaxBytes = 4096;

    /// <summary>Temp files of incoming transfers; never scanned, never synced.</summary>
    public const string TempPrefix = ".shoal-tmp.";

    /// <summary>Error messages quote at most this much of a path, so a hostile 4 KiB path still gives a readable line.</summary>
    private const int MaxQuotedChars = 80;

    /// <summary>OS paths differ only in case on Windows; elsewhere "Root" and "root" are two directories.</summary>
    private static readonly StringComparison PathComparison =
        OperatingSystem.IsWindows() ? StringComparison.OrdinalIgnoreCase : StringComparison.Ordinal;

    /// <summary>True if <paramref name="path"/> is a valid folder-relative path; otherwise says why not.</summary>
    public static bool IsValid(string? path, out string error)
    {
        if (string.IsNullOrEmpty(path))
        {
            error = "the path is empty";
            return false;
        }

        if (!IsWellFormedUtf16(path))
        {
            // An unpaired surrogate has no UTF-8 form: two different paths would reach the wire as the same bytes.
            error = $"the path '{Quote(path)}' is not valid Unicode";
            return false;
        }

        var byteCount = Encoding.UTF8.GetByteCount(path);
        if (byteCount > MaxBytes)
        {
            error = $"the path is {byteCount} bytes long; at most {MaxBytes} are allowed";
            return false;
        }

        if (path[0] == '/')
        {
            error = $"the path '{Quote(path)}' is absolute; it must be relative to the folder";
            return false;
        }

        if (path.Length >= 2 && char.IsAsciiLetter(path[0]) && path[1] == ':')
        {
            error = $"the path '{Quote(path)}' starts with a drive letter; it must be relative to the folder";
            return false;
        }

        if (path.Contains('\\'))
        {
            error = $"the path '{Quote(path)}' contains a backslash; components are separated by '/'";
            return false;
        }

        if (path.Any(char.IsControl))
        {
            error = $"the path '{Quote(path)}' contains a control character";
            return false;
        }

        foreach (var component in path.Split('/'))
        {
            if (component.Length == 0)
            {
                error = $"the path '{Quote(path)}' has an empty component (a doubled or trailing '/')";
                return false;
            }

            if (component is "." or "..")
            {
                error = $"the path '{Quote(path)}' has a '{component}' component";
                return false;
            }

            if (!SafeFileName.IsValid(component, out var nameError))
            {
                error = $"the component '{Quote(component)}' of the path is not allowed: {nameError}";
                return false;
            }

            if (IsTempName(component))
            {
                error = $"the component '{Quote(component)}' starts with '{TempPrefix}', which Shoal reserves for its temp files";
                return false;
            }
        }

        error = "";
        return true;
    }

    /// <summary>The folder path of a file under <paramref name="root"/>, or null if it is not under it or not valid.</summary>
    public static string? FromFullPath(string root, string fullPath)
    {
        ArgumentNullException.ThrowIfNull(root);
        ArgumentNullException.ThrowIfNull(fullPath);
        var prefix = RootPrefix(root);
        var full = Path.GetFullPath(fullPath);
        if (!full.StartsWith(prefix, PathComparison)) return null;
        var relative = full[prefix.Length..];
        if (Path.DirectorySeparatorChar != '/') relative = relative.Replace(Path.DirectorySeparatorChar, '/');
        return IsValid(relative, out _) ? relative : null;
    }

    /// <summary>The full path on disk of a valid folder path. Throws <see cref="ArgumentException"/> if invalid.</summary>
    public static string ToFullPath(string root, string path)
    {
        ArgumentNullException.ThrowIfNull(root);
        if (!IsValid(path, out var error)) throw new ArgumentException($"Not a valid folder path: {error}.", nameof(path));
        var prefix = RootPrefix(root);
        var full = Path.Combine([prefix, .. path.Split('/')]);

        // Validation should make escaping impossible; this catches whatever it missed on some file system.
        if (!Path.GetFullPath(full).StartsWith(prefix, PathComparison))
        {
            throw new ArgumentException($"The folder path '{Quote(path)}' resolves outside the folder.", nameof(path));
        }

        return full;
    }

    /// <summary>
    /// The full path on disk of the temp file that receives <paramref name="content"/> for <paramref name="path"/>.
    /// <see cref="ToFullPath"/> refuses temp names on purpose (no peer may name one), so they are mapped here.
    /// </summary>
    public static string ToTempFullPath(string root, string path, FileId content)
    {
        var target = ToFullPath(root, path);
        return Path.Combine(Path.GetDirectoryName(target)!, FileName(TempNameFor(path, content)));
    }

    /// <summary>The parent folder path, or "" for a top-level entry.</summary>
    public static string Parent(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        var slash = path.LastIndexOf('/');
        return slash < 0 ? "" : path[..slash];
    }

    /// <summary>The last component of a folder path.</summary>
    public static string FileName(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        return path[(path.LastIndexOf('/') + 1)..];
    }

    /// <summary>True for a name Shoal gives its own temp files, which the scanner must skip. Takes one component, not a path.</summary>
    public static bool IsTempName(string fileName)
    {
        ArgumentNullException.ThrowIfNull(fileName);
        return fileName.StartsWith(TempPrefix, StringComparison.Ordinal);
    }

    /// <summary>
    /// The folder path of the temp file for <paramref name="path"/>: in the same directory, so the final rename
    /// stays on one file system and is atomic; named after the content, so a restarted transfer finds its partial file.
    /// </summary>
    public static string TempNameFor(string path, FileId content)
    {
        if (!IsValid(path, out var error)) throw new ArgumentException($"Not a valid folder path: {error}.", nameof(path));
        var name = Truncate(TempPrefix + content.ShortForm + "." + FileName(path), SafeFileName.MaxLength);

        // Windows drops a trailing dot or space silently, which would make the name we write differ from the one we look for.
        name = name.TrimEnd('.', ' ');
        var parent = Parent(path);
        return parent.Length == 0 ? name : parent + "/" + name;
    }

    /// <summary>
    /// Cuts <paramref name="text"/> to at most <paramref name="maxBytes"/> UTF-8 bytes (none if that is not
    /// positive), by whole runes so no character is split.
    /// </summary>
    internal static string Truncate(string text, int maxBytes)
    {
        if (Encoding.UTF8.GetByteCount(text) <= maxBytes) return text;
        var kept = new StringBuilder(text.Length);
        Span<char> utf16 = stackalloc char[2];
        var byteCount = 0;
        foreach (var rune in text.EnumerateRunes())
        {
            byteCount += rune.Utf8SequenceLength;
            if (byteCount > maxBytes) break;
            kept.Append(utf16[..rune.EncodeToUtf16(utf16)]);
        }

        return kept.ToString();
    }

    /// <summary>The full root with exactly one trailing separator, so "/data/folder2" never counts as under "/data/folder".</summary>
    private static string RootPrefix(string root)
    {
        var full = Path.GetFullPath(root);
        return Path.EndsInDirectorySeparator(full) ? full : full + Path.DirectorySeparatorChar;
    }

    private static bool IsWellFormedUtf16(string text)
    {
        for (var i = 0; i < text.Length; i++)
        {
            if (char.IsHighSurrogate(text[i]) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1])) i++;
            else if (char.IsSurrogate(text[i])) return false;
        }

        return true;
    }

    private static string Quote(string text)
    {
        var printable = new string(text.Select(c => char.IsControl(c) ? '?' : c).ToArray());
        if (printable.Length <= MaxQuotedChars) return printable;
        var cut = char.IsLowSurrogate(printable[MaxQuotedChars]) ? MaxQuotedChars - 1 : MaxQuotedChars;
        return printable[..cut] + "…";
    }
}
