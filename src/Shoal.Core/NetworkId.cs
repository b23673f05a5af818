namespace Shoal.Core;

/// <summary>Names a network (16 random bytes). Public: knowing it grants nothing; the secret does.</summary>
public readonly record struct NetworkId(Guid Value)
{
    public const int Size = 16;

    public static NetworkId New() => new(Guid.NewGuid());

    public static NetworkId FromBytes(ReadOnlySpan<byte> bytes) => new(new Guid(bytes, bigEndian: true));

    public void CopyTo(Span<byte> destination) => Value.TryWriteBytes(destination, bigEndian: true, out _);

    public byte[] ToArray()
    {
        var bytes = new byte[Size];
        CopyTo(bytes);
        return bytes;
    }

    public override string ToString() => Base32.Encode(ToArray(), lowerCase: true);

    public static bool TryParse(string text, out NetworkId id)
    {
        id = default;
        if (!Base32.TryDecode(text, out var bytes) || bytes.Length != Size) return false;
        id = FromBytes(bytes);
        return true;
    }
}
