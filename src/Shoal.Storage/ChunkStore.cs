using Microsoft.Win32.SafeHandles;
using Shoal.Core;

namespace Shoal.Storage;

public enum ChunkStoreResult
{
    Stored,
    AlreadyHeld,
    Full,
    HashMismatch,
}

/// <summary>
/// Chunks this node keeps for the network (put files), one file per chunk named by its hash
/// (<c>store/ab/abcdef…</c>), so the same bytes are kept once whichever files they belong to. What it holds is
/// what is on disk: the index of hashes and sizes is rebuilt from the directory at start. Never holds more than
/// its quota: space is reserved before a chunk is written.
/// </summary>
public sealed class ChunkStore
{
    private const string TempSuffix = ".tmp";
    private readonly Lock _gate = new();
    private readonly Dictionary<Hash256, int> _chunks = [];
    private long _used;
    private long _reserved;

    public ChunkStore(string directory, long quotaBytes)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(quotaBytes);
        Directory = Path.GetFullPath(directory);
        QuotaBytes = quotaBytes;
        AtomicFile.CreatePrivateDirectory(Directory);
        foreach (var file in new DirectoryInfo(Directory).EnumerateFiles("*", SearchOption.AllDirectories))
        {
            if (file.Name.EndsWith(TempSuffix, StringComparison.Ordinal))
            {
                // Left by a write that never finished: never a chunk.
                file.Delete();
                continue;
            }

            if (file.Name.Length != 64 || !IsHex(file.Name)) continue;
            _chunks[Hash256.FromHex(file.Name)] = (int)file.Length;
            _used += file.Length;
        }
    }

    public string Directory { get; }

    public long QuotaBytes { get; }

    public long UsedBytes
    {
        get
        {
            lock (_gate) return _used;
        }
    }

    public long FreeBytes
    {
        get
        {
            lock (_gate) return Math.Max(0, QuotaBytes - _used - _reserved);
        }
    }

    public int Count
    {
        get
        {
            lock (_gate) return _chunks.Count;
        }
    }

    public bool Has(Hash256 hash)
    {
        lock (_gate) return _chunks.ContainsKey(hash);
    }

    /// <summary>Checks the bytes against <paramref name="hash"/>, then writes them durably (temp, fsync, rename).</summary>
    public async ValueTask<ChunkStoreResult> PutAsync(Hash256 hash, ReadOnlyMemory<byte> data, CancellationToken cancellationToken)
    {
        if (Hash256.Compute(data.Span) != hash) return ChunkStoreResult.HashMismatch;
        lock (_gate)
        {
            if (_chunks.ContainsKey(hash)) return ChunkStoreResult.AlreadyHeld;
            if (_used + _reserved + data.Length > QuotaBytes) return ChunkStoreResult.Full;
            _reserved += data.Length;
        }

        var path = PathOf(hash);
        var temp = path + "." + Guid.NewGuid().ToString("N") + TempSuffix;
        var stored = false;
        try
        {
            System.IO.Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            using (var handle = File.OpenHandle(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None))
            {
                await RandomAccess.WriteAsync(handle, data, 0, cancellationToken).ConfigureAwait(false);
                RandomAccess.FlushToDisk(handle);
            }

            File.Move(temp, path, overwrite: true);
            DurableFileSystem.FlushDirectory(Path.GetDirectoryName(path)!);
            stored = true;
        }
        catch (IOException e) when (DiskSpace.IsFull(e))
        {
            // The quota is what the node may use, not what the disk has left.
            throw new DiskFullException(Directory, data.Length, e);
        }
        finally
        {
            lock (_gate)
            {
                _reserved -= data.Length;
                if (stored && _chunks.TryAdd(hash, data.Length)) _used += data.Length;
            }

            if (!stored) File.Delete(temp);
        }

        return ChunkStoreResult.Stored;
    }

    /// <summary>Reads a held chunk; the reader verifies it (a damaged copy is then dropped with <see cref="Delete"/>).</summary>
    public async ValueTask<int> ReadAsync(Hash256 hash, Memory<byte> destination, CancellationToken cancellationToken)
    {
        int length;
        lock (_gate)
        {
            if (!_chunks.TryGetValue(hash, out length)) throw new FileNotFoundException($"chunk {hash.ToHex()[..12]} is not in the store");
        }

        using SafeFileHandle handle = File.OpenHandle(PathOf(hash), FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        return await ChunkIO.ReadFullyAsync(handle, destination[..length], 0, cancellationToken).ConfigureAwait(false);
    }

    public bool Delete(Hash256 hash)
    {
        lock (_gate)
        {
            if (!_chunks.Remove(hash, out var length)) return false;
            _used -= length;
        }

        File.Delete(PathOf(hash));
        return true;
    }

    private string PathOf(Hash256 hash)
    {
        var hex = hash.ToHex();
        return Path.Combine(Directory, hex[..2], hex);
    }

    private static bool IsHex(string name) => name.All(char.IsAsciiHexDigitLower);
}
