using System.Buffers.Binary;
using System.Security.Cryptography;

namespace Shoal.Core;

public readonly record struct ChunkInfo(long Offset, int Length, Hash256 Hash);

/// <summary>
/// What a file is made of: its size and its ordered chunks. The name is not part of it, so identical bytes
/// have one id whatever they are called.
/// </summary>
public sealed class Manifest
{
    /// <summary>Wire encoding: version byte, u64 size, u32 chunk count, then per chunk u32 length + 32-byte hash.</summary>
    public const byte FormatVersion = 1;
    public const int HeaderSize = 1 + 8 + 4;
    public const int EntrySize = 4 + Hash256.Size;

    /// <summary>Bounds what a peer can make us allocate: 1 M chunks is ≥ 256 GiB at the minimum chunk size.</summary>
    public const int MaxChunkCount = 1 << 20;

    private readonly ChunkInfo[] _chunks;

    public Manifest(long size, ChunkInfo[] chunks)
    {
        Validate(size, chunks);
        Size = size;
        _chunks = chunks;
        Id = ComputeId(size, chunks);
    }

    public FileId Id { get; }

    public long Size { get; }

    public IReadOnlyList<ChunkInfo> Chunks => _chunks;

    public int ChunkCount => _chunks.Length;

    public ChunkInfo this[int index] => _chunks[index];

    public int MaxChunkLength => _chunks.Length == 0 ? 0 : _chunks.Max(c => c.Length);

    public static Manifest FromLengthsAndHashes(IReadOnlyList<(int Length, Hash256 Hash)> entries)
    {
        var chunks = new ChunkInfo[entries.Count];
        long offset = 0;
        for (var i = 0; i < chunks.Length; i++)
        {
            chunks[i] = new ChunkInfo(offset, entries[i].Length, entries[i].Hash);
            offset += entries[i].Length;
        }

        return new Manifest(offset, chunks);
    }

    /// <summary>id = SHA-256("shoal-file-v1" ‖ u64 size ‖ each chunk's u32 length ‖ hash).</summary>
    public static FileId ComputeId(long size, ReadOnlySpan<ChunkInfo> chunks)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        hash.AppendData("shoal-file-v1"u8);
        Span<byte> entry = stackalloc byte[EntrySize];
        BinaryPrimitives.WriteInt64BigEndian(entry, size);
        hash.AppendData(entry[..8]);
        foreach (var chunk in chunks)
        {
            BinaryPrimitives.WriteInt32BigEndian(entry, chunk.Length);
            chunk.Hash.CopyTo(entry[4..]);
            hash.AppendData(entry);
        }

        Span<byte> digest = stackalloc byte[Hash256.Size];
        hash.GetHashAndReset(digest);
        return new FileId(new Hash256(digest));
    }

    public int SerializedSize => HeaderSize + (_chunks.Length * EntrySize);

    public byte[] Serialize()
    {
        var bytes = new byte[SerializedSize];
        Serialize(bytes);
        return bytes;
    }

    public void Serialize(Span<byte> destination)
    {
        destination[0] = FormatVersion;
        BinaryPrimitives.WriteInt64BigEndian(destination[1..], Size);
        BinaryPrimitives.WriteInt32BigEndian(destination[9..], _chunks.Length);
        var at = HeaderSize;
        foreach (var chunk in _chunks)
        {
            BinaryPrimitives.WriteInt32BigEndian(destination[at..], chunk.Length);
            chunk.Hash.CopyTo(destination[(at + 4)..]);
            at += EntrySize;
        }
    }

    public static Manifest Deserialize(ReadOnlySpan<byte> bytes) =>
        TryDeserialize(bytes, out var manifest, out var error) ? manifest : throw new FormatException(error);

    public static bool TryDeserialize(ReadOnlySpan<byte> bytes, out Manifest manifest, out string error)
    {
        manifest = null!;
        if (bytes.Length < HeaderSize)
        {
            error = "manifest is truncated";
            return false;
        }

        if (bytes[0] != FormatVersion)
        {
            error = $"manifest format {bytes[0]} is not supported";
            return false;
        }

        var size = BinaryPrimitives.ReadInt64BigEndian(bytes[1..]);
        var count = BinaryPrimitives.ReadInt32BigEndian(bytes[9..]);
        if (count < 0 || count > MaxChunkCount || bytes.Length != HeaderSize + ((long)count * EntrySize))
        {
            error = "manifest chunk count does not match its length";
            return false;
        }

        var chunks = new ChunkInfo[count];
        long offset = 0;
        var at = HeaderSize;
        for (var i = 0; i < count; i++)
        {
            var length = BinaryPrimitives.ReadInt32BigEndian(bytes[at..]);
            if (length <= 0 || length > ChunkingParameters.MaxSize)
            {
                error = $"manifest chunk {i} has an invalid length {length}";
                return false;
            }

            chunks[i] = new ChunkInfo(offset, length, new Hash256(bytes.Slice(at + 4, Hash256.Size)));
            offset += length;
            at += EntrySize;
        }

        if (offset != size)
        {
            error = "manifest chunk lengths do not add up to its size";
            return false;
        }

        manifest = new Manifest(size, chunks);
        error = "";
        return true;
    }

    private static void Validate(long size, ChunkInfo[] chunks)
    {
        if (size < 0) throw new ArgumentOutOfRangeException(nameof(size));
        if (chunks.Length > MaxChunkCount) throw new ArgumentException("too many chunks", nameof(chunks));
        long offset = 0;
        foreach (var chunk in chunks)
        {
            if (chunk.Offset != offset || chunk.Length <= 0 || chunk.Length > ChunkingParameters.MaxSize)
            {
                throw new ArgumentException("chunks must be contiguous, non-empty and within the maximum size", nameof(chunks));
            }

            offset += chunk.Length;
        }

        if (offset != size) throw new ArgumentException("chunk lengths must add up to the size", nameof(chunks));
    }
}
