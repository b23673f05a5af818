namespace Shoal.Core;

/// <summary>A file's identity, derived from its content alone (see <see cref="Manifest.ComputeId"/>).</summary>
public readonly record struct FileId(Hash256 Value) : IComparable<FileId>
{
    public const int TextLength = 52;

    public static FileId FromBytes(ReadOnlySpan<byte> bytes) => new(new Hash256(bytes));

    /// <summary>Lowercase unpadded base32: short enough for links, safe in URLs and file names.</summary>
    public override string ToString()
    {
        Span<byte> raw = stackalloc byte[Hash256.Size];
        Value.CopyTo(raw);
        return Base32.Encode(raw, lowerCase: true);
    }

    public string ShortForm => ToString()[..10];

    public static bool TryParse(ReadOnlySpan<char> text, out FileId id)
    {
        id = default;
        if (text.Length != TextLength || !Base32.TryDecode(text, out var bytes) || bytes.Length != Hash256.Size)
        {
            return false;
        }

        id = new FileId(new Hash256(bytes));
        return true;
    }

    public static FileId Parse(string text) =>
        TryParse(text, out var id) ? id : throw new FormatException($"'{text}' is not a Shoal file id.");

    public int CompareTo(FileId other) => Value.CompareTo(other.Value);
}
