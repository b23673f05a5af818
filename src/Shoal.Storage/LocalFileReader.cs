using Microsoft.Win32.SafeHandles;

namespace Shoal.Storage;

/// <summary>
/// Reads chunks of shared and downloaded files for peers. Keeps the most recently used files open, since one
/// file is usually served chunk after chunk, and refuses to serve a file whose size or write time no longer
/// matches its record: its content is then not what the manifest promises. Thread-safe.
/// </summary>
public sealed class LocalFileReader : IDisposable
{
    public const int DefaultMaxOpenFiles = 64;

    /// <summary>How long a stat result is trusted; a change is noticed at most this late, and peers verify every chunk anyway.</summary>
    private static readonly TimeSpan StatLifetime = TimeSpan.FromSeconds(1);

    private readonly TimeProvider _time;
    private readonly int _maxOpenFiles;
    private readonly Lock _gate = new();
    private readonly Dictionary<string, OpenFile> _open = new(StringComparer.Ordinal);
    private readonly LinkedList<OpenFile> _recency = new();
    private bool _disposed;

    public LocalFileReader(TimeProvider? time = null, int maxOpenFiles = DefaultMaxOpenFiles)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxOpenFiles, 1);
        _time = time ?? TimeProvider.System;
        _maxOpenFiles = maxOpenFiles;
    }

    public int OpenFileCount
    {
        get
        {
            lock (_gate) return _open.Count;
        }
    }

    /// <summary>
    /// Reads exactly chunk <paramref name="index"/> into the start of <paramref name="destination"/>. Throws
    /// <see cref="FileNotFoundException"/> if the file is gone and <see cref="FileChangedException"/> if it changed.
    /// </summary>
    public async ValueTask ReadChunkAsync(LocalFile file, int index, Memory<byte> destination, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(file);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual((uint)index, (uint)file.Manifest.ChunkCount, nameof(index));
        var chunk = file.Manifest[index];
        if (destination.Length < chunk.Length)
        {
            throw new ArgumentException($"Chunk {index} needs {chunk.Length} bytes, the buffer has {destination.Length}.", nameof(destination));
        }

        var entry = Acquire(file.Path);
        if (!MatchesCachedStat(entry, file))
        {
            // What is cached (an open handle, a recent stat) may predate the version asked for: a file rewritten or
            // replaced since is looked at afresh before it is declared changed.
            Evict(entry);
            Release(entry);
            entry = Acquire(file.Path);
        }

        try
        {
            EnsureUnchanged(entry, file);
            var read = await ChunkIO.ReadFullyAsync(entry.Handle, destination[..chunk.Length], chunk.Offset, cancellationToken)
                .ConfigureAwait(false);
            if (read != chunk.Length)
            {
                Evict(entry);
                throw new FileChangedException(file.Path, $"'{file.Path}' became shorter while it was being read.");
            }
        }
        finally
        {
            Release(entry);
        }
    }

    public void Dispose()
    {
        lock (_gate)
        {
            if (_disposed) return;
            _disposed = true;
            while (_recency.First is { } node) Evict(node.Value);
        }
    }

    private static bool MatchesCachedStat(OpenFile entry, LocalFile file) =>
        entry.Stat is not { } stat || (stat.Exists && stat.Length == file.Size && stat.LastWriteUtc == file.LastWriteUtc);

    private void EnsureUnchanged(OpenFile entry, LocalFile file)
    {
        var now = _time.GetTimestamp();
        var stat = entry.Stat;
        if (stat is null || _time.GetElapsedTime(stat.CheckedAt, now) >= StatLifetime)
        {
            // By path, not by handle: an editor that saves by replacing the file leaves our handle on the old one.
            var info = new FileInfo(entry.Path);
            stat = info.Exists ? new FileStat(true, info.Length, info.LastWriteTimeUtc, now) : new FileStat(false, 0, default, now);
            entry.Stat = stat;
        }

        if (!stat.Exists)
        {
            Evict(entry);
            throw new FileNotFoundException($"'{file.Path}' no longer exists.", file.Path);
        }

        if (stat.Length != file.Size || stat.LastWriteUtc != file.LastWriteUtc)
        {
            Evict(entry);
            throw new FileChangedException(
                file.Path,
                $"'{file.Path}' changed since it was indexed: {stat.Length} bytes written {stat.LastWriteUtc:O}, " +
                $"expected {file.Size} bytes written {file.LastWriteUtc:O}.");
        }
    }

    private OpenFile Acquire(string path)
    {
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (_open.TryGetValue(path, out var cached)) return Use(cached);
        }

        // Opened outside the lock: a slow disk must not stall reads of files that are already open.
        var handle = OpenForReading(path);
        lock (_gate)
        {
            if (_disposed)
            {
                handle.Dispose();
                throw new ObjectDisposedException(nameof(LocalFileReader));
            }

            if (_open.TryGetValue(path, out var raced))
            {
                handle.Dispose();
                return Use(raced);
            }

            var entry = new OpenFile(path, handle);
            entry.Node = _recency.AddFirst(entry);
            _open.Add(path, entry);
            Use(entry);
            while (_open.Count > _maxOpenFiles) Evict(_recency.Last!.Value);
            return entry;
        }
    }

    /// <summary>Caller holds <see cref="_gate"/>.</summary>
    private OpenFile Use(OpenFile entry)
    {
        _recency.Remove(entry.Node!);
        _recency.AddFirst(entry.Node!);
        entry.Users++;
        return entry;
    }

    private void Release(OpenFile entry)
    {
        lock (_gate)
        {
            entry.Users--;
            if (entry.Evicted && entry.Users == 0) entry.Handle.Dispose();
        }
    }

    /// <summary>Forgets the file; its handle closes once no read is using it.</summary>
    private void Evict(OpenFile entry)
    {
        lock (_gate)
        {
            if (entry.Evicted) return;
            entry.Evicted = true;
            _open.Remove(entry.Path);
            _recency.Remove(entry.Node!);
            if (entry.Users == 0) entry.Handle.Dispose();
        }
    }

    private static SafeFileHandle OpenForReading(string path)
    {
        try
        {
            // Others keep full access: the owner of a shared file may edit, move or delete it at any time.
            return File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete, FileOptions.Asynchronous);
        }
        catch (DirectoryNotFoundException e)
        {
            throw new FileNotFoundException($"'{path}' no longer exists.", path, e);
        }
    }

    private sealed record FileStat(bool Exists, long Length, DateTime LastWriteUtc, long CheckedAt);

    private sealed class OpenFile(string path, SafeFileHandle handle)
    {
        public string Path { get; } = path;

        public SafeFileHandle Handle { get; } = handle;

        public LinkedListNode<OpenFile>? Node { get; set; }

        /// <summary>Guarded by the reader's lock, like <see cref="Evicted"/>.</summary>
        public int Users { get; set; }

        public bool Evicted { get; set; }

        /// <summary>Replaced whole, so readers never see a torn result; concurrent refreshes are harmless.</summary>
        public FileStat? Stat { get; set; }
    }
}
