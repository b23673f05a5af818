using System.Collections.Concurrent;
using System.Runtime.ExceptionServices;
using System.Text;
using Microsoft.Win32.SafeHandles;
using Shoal.Core;

namespace Shoal.Storage;

/// <summary>
/// A file being downloaded, kept at a partial path until every chunk is verified and then moved to its final
/// name. Chunks are marked verified in the catalog right after their write, before it is durable; a reopen
/// therefore re-hashes every chunk the catalog claims, so data lost with the page cache is fetched again.
/// Thread-safe: chunks may be written and read concurrently.
/// </summary>
public sealed class PartialDownload : IChunkSink, IAsyncDisposable
{
    /// <summary>Dirty data allowed to build up before a background fsync, so the final fsync stays short.</summary>
    private const long BackgroundFlushBytes = 64L * 1024 * 1024;

    private const int CopyBufferSize = 1024 * 1024;
    private const int MaxNameAttempts = 10_000;

    private const int Open = 0;
    private const int Completing = 1;
    private const int Completed = 2;
    private const int Disposed = 3;

    private readonly Catalog _catalog;
    private readonly SafeFileHandle _handle;
    private readonly Lock _gate = new();
    private readonly Bitfield _verified;
    private Task _backgroundFlush = Task.CompletedTask;
    private ExceptionDispatchInfo? _flushFailure;
    private long _unflushedBytes;
    private int _state;

    private PartialDownload(Catalog catalog, Manifest manifest, string partialPath, SafeFileHandle handle, Bitfield verified)
    {
        _catalog = catalog;
        Manifest = manifest;
        PartialPath = partialPath;
        _handle = handle;
        _verified = verified;
    }

    public Manifest Manifest { get; }

    public string PartialPath { get; }

    public Bitfield Verified
    {
        get
        {
            lock (_gate) return _verified.Clone();
        }
    }

    public bool IsComplete
    {
        get
        {
            lock (_gate) return _verified.IsComplete;
        }
    }

    /// <summary>Opens or creates the partial file and keeps only the recorded chunks that still match on disk.</summary>
    public static async Task<PartialDownload> OpenAsync(
        Catalog catalog, Manifest manifest, string partialPath, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(catalog);
        ArgumentNullException.ThrowIfNull(manifest);
        var fullPath = Path.GetFullPath(partialPath);
        Directory.CreateDirectory(Path.GetDirectoryName(fullPath)!);

        var handle = OpenPartialFile(fullPath, manifest.Size);
        try
        {
            if (RandomAccess.GetLength(handle) != manifest.Size) RandomAccess.SetLength(handle, manifest.Size);
            var verified = catalog.LoadVerifiedChunks(manifest.Id, manifest.ChunkCount);
            var damaged = await ChunkIO.FindDamagedChunksAsync(handle, manifest, verified.SetIndices(), cancellationToken).ConfigureAwait(false);
            if (damaged.Count > 0)
            {
                catalog.UnmarkChunksVerified(manifest.Id, damaged);
                foreach (var index in damaged) verified.Clear(index);
            }

            return new PartialDownload(catalog, manifest, fullPath, handle, verified);
        }
        catch
        {
            handle.Dispose();
            throw;
        }
    }

    public bool IsVerified(int index)
    {
        ChunkAt(index);
        lock (_gate) return _verified[index];
    }

    public async ValueTask WriteVerifiedChunkAsync(int index, ReadOnlyMemory<byte> data, CancellationToken cancellationToken)
    {
        var chunk = ChunkAt(index);
        if (data.Length != chunk.Length)
        {
            throw new ArgumentException($"Chunk {index} has {chunk.Length} bytes, not {data.Length}.", nameof(data));
        }

        ObjectDisposedException.ThrowIf(Volatile.Read(ref _state) == Disposed, this);
        _flushFailure?.Throw();

        // Once every chunk is verified any write is a duplicate, so this also covers writes during completion.
        if (IsVerified(index)) return;

        try
        {
            await RandomAccess.WriteAsync(_handle, data, chunk.Offset, cancellationToken).ConfigureAwait(false);
        }
        catch (IOException e) when (DiskSpace.IsFull(e))
        {
            // Where preallocation is not supported the file fills in as chunks arrive; this chunk stays unverified.
            throw new DiskFullException(Path.GetDirectoryName(PartialPath)!, data.Length, e);
        }

        _catalog.MarkChunkVerified(Manifest.Id, index);
        lock (_gate) _verified.Set(index);

        if (Interlocked.Add(ref _unflushedBytes, data.Length) >= BackgroundFlushBytes) StartBackgroundFlush();
    }

    /// <summary>
    /// Reads a verified chunk into <paramref name="destination"/> and returns its length. Keeps working after
    /// <see cref="CompleteAsync"/>, because the open file is the one that was moved to its final name.
    /// </summary>
    public async ValueTask<int> ReadChunkAsync(int index, Memory<byte> destination, CancellationToken cancellationToken)
    {
        var chunk = ChunkAt(index);
        if (destination.Length < chunk.Length)
        {
            throw new ArgumentException($"Chunk {index} needs {chunk.Length} bytes, the buffer has {destination.Length}.", nameof(destination));
        }

        ObjectDisposedException.ThrowIf(Volatile.Read(ref _state) == Disposed, this);
        if (!IsVerified(index)) throw new InvalidOperationException($"Chunk {index} of {Manifest.Id} has not been verified yet.");

        var read = await ChunkIO.ReadFullyAsync(_handle, destination[..chunk.Length], chunk.Offset, cancellationToken).ConfigureAwait(false);
        if (read != chunk.Length) throw new IOException($"'{PartialPath}' is shorter than its manifest says.");
        return read;
    }

    /// <summary>
    /// Makes the file durable and moves it into <paramref name="targetDirectory"/> as <paramref name="fileName"/>,
    /// or "name (1).ext", "name (2).ext"... if that exists, and returns the final path. A final name only ever
    /// appears once its content is complete and on disk. On failure the download stays as it was and can retry.
    /// </summary>
    public async Task<string> CompleteAsync(string targetDirectory, string fileName, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(targetDirectory);
        if (!SafeFileName.IsValid(fileName, out var error)) throw new ArgumentException(error, nameof(fileName));
        var state = Interlocked.CompareExchange(ref _state, Completing, Open);
        if (state != Open) throw NotOpen(state);

        try
        {
            int missing;
            lock (_gate) missing = Manifest.ChunkCount - _verified.SetCount;
            if (missing > 0)
            {
                throw new InvalidOperationException($"{missing} of {Manifest.ChunkCount} chunks of {Manifest.Id} are still missing.");
            }

            Task pendingFlush;
            lock (_gate) pendingFlush = _backgroundFlush;
            await pendingFlush.ConfigureAwait(false);
            _flushFailure?.Throw();
            await Task.Run(() => RandomAccess.FlushToDisk(_handle), cancellationToken).ConfigureAwait(false);

            var directory = Path.GetFullPath(targetDirectory);
            string finalPath;
            try
            {
                Directory.CreateDirectory(directory);
                finalPath = await MoveIntoAsync(directory, fileName, cancellationToken).ConfigureAwait(false);
            }
            catch (IOException e) when (DiskSpace.AsFull(e, directory, Manifest.Size) is { } full)
            {
                // Another file system with too little room for the copy: the partial file and its verified chunks stay.
                throw full;
            }

            Volatile.Write(ref _state, Completed);
            return finalPath;
        }
        catch
        {
            Interlocked.CompareExchange(ref _state, Open, Completing);
            throw;
        }
    }

    /// <summary>Flushes what was written, so a paused download does not have to re-fetch after a crash, and closes the file.</summary>
    public async ValueTask DisposeAsync()
    {
        var previous = Interlocked.Exchange(ref _state, Disposed);
        if (previous == Disposed) return;

        try
        {
            Task pendingFlush;
            lock (_gate) pendingFlush = _backgroundFlush;
            await pendingFlush.ConfigureAwait(false);
            if (previous != Completed) RandomAccess.FlushToDisk(_handle);
        }
        finally
        {
            _handle.Dispose();
        }
    }

    private static SafeFileHandle OpenPartialFile(string path, long size)
    {
        // FileShare.Delete lets Windows rename the file while it is open, as completion does.
        const FileShare share = FileShare.Read | FileShare.Delete;
        try
        {
            // Reserving the space up front makes a full disk fail now rather than halfway through the download.
            return File.OpenHandle(path, FileMode.CreateNew, FileAccess.ReadWrite, share, FileOptions.Asynchronous, preallocationSize: size);
        }
        catch (IOException) when (File.Exists(path))
        {
            return File.OpenHandle(path, FileMode.Open, FileAccess.ReadWrite, share, FileOptions.Asynchronous);
        }
        catch (IOException e) when (DiskSpace.AsFull(e, Path.GetDirectoryName(path)!, size) is { } full)
        {
            throw full;
        }
    }

    /// <summary>
    /// Gets the file into the target directory under a hidden temporary name first: a rename when both are on one
    /// file system, otherwise a copy that is fsynced before anything else happens. Only then does it take a
    /// final name, by a rename within that directory that never replaces an existing file.
    /// </summary>
    private async Task<string> MoveIntoAsync(string directory, string fileName, CancellationToken cancellationToken)
    {
        var tempPath = Path.Combine(directory, $".{Manifest.Id}.shoal-tmp");
        var renamed = DurableFileSystem.TryRenameWithinFileSystem(PartialPath, tempPath);
        if (!renamed) await CopyToAsync(tempPath, cancellationToken).ConfigureAwait(false);

        string finalPath;
        try
        {
            finalPath = RenameToFreeName(tempPath, directory, fileName);
        }
        catch
        {
            UndoMove(tempPath, renamed);
            throw;
        }

        DurableFileSystem.FlushDirectory(directory);

        // The copy's source goes last, once the copy is durable under its final name. Our handle keeps it
        // readable until disposed, so chunks can still be served from it.
        if (!renamed) File.Delete(PartialPath);
        return finalPath;
    }

    private async Task CopyToAsync(string tempPath, CancellationToken cancellationToken)
    {
        var buffer = ChunkBufferPool.Shared.Rent(CopyBufferSize);
        try
        {
            using var target = File.OpenHandle(
                tempPath, FileMode.Create, FileAccess.Write, FileShare.None, FileOptions.Asynchronous, preallocationSize: Manifest.Size);
            for (long offset = 0; offset < Manifest.Size;)
            {
                var length = (int)Math.Min(CopyBufferSize, Manifest.Size - offset);
                var read = await RandomAccess.ReadAsync(_handle, buffer.AsMemory(0, length), offset, cancellationToken).ConfigureAwait(false);
                if (read == 0) throw new IOException($"'{PartialPath}' is shorter than its manifest says.");
                await RandomAccess.WriteAsync(target, buffer.AsMemory(0, read), offset, cancellationToken).ConfigureAwait(false);
                offset += read;
            }

            RandomAccess.FlushToDisk(target);
        }
        catch
        {
            File.Delete(tempPath);
            throw;
        }
        finally
        {
            ChunkBufferPool.Shared.Return(buffer);
        }
    }

    private static string RenameToFreeName(string tempPath, string directory, string fileName)
    {
        for (var attempt = 0; attempt < MaxNameAttempts; attempt++)
        {
            var candidate = Path.Combine(directory, attempt == 0 ? fileName : NumberedName(fileName, attempt));
            if (Path.Exists(candidate)) continue;
            try
            {
                File.Move(tempPath, candidate, overwrite: false);
                return candidate;
            }
            catch (IOException) when (Path.Exists(candidate))
            {
                // Someone else took the name between the check and the move; try the next one.
            }
        }

        throw new IOException($"No free name for '{fileName}' in '{directory}' after {MaxNameAttempts} attempts.");
    }

    private static string NumberedName(string fileName, int number)
    {
        var extension = Path.GetExtension(fileName);
        var stem = fileName[..^extension.Length];

        // ".profile" is all extension; numbering it as " (1).profile" would hide what it is.
        if (stem.Length == 0) (stem, extension) = (fileName, "");
        var suffix = $" ({number}){extension}";

        // The number must not push a name that was just within the limit over it; the stem gives way, whole
        // characters at a time.
        var budget = SafeFileName.MaxLength - Encoding.UTF8.GetByteCount(suffix);
        while (stem.Length > 0 && Encoding.UTF8.GetByteCount(stem) > budget)
        {
            stem = stem[..^(stem.Length > 1 && char.IsLowSurrogate(stem[^1]) ? 2 : 1)];
        }

        return stem + suffix;
    }

    /// <summary>Puts the data back at the partial path so a later attempt starts from where this one did.</summary>
    private void UndoMove(string tempPath, bool renamed)
    {
        try
        {
            if (renamed)
            {
                DurableFileSystem.TryRenameWithinFileSystem(tempPath, PartialPath);
            }
            else
            {
                File.Delete(tempPath);
            }
        }
        catch (IOException)
        {
            // The failure being reported is the one that matters; a leftover temporary file is hidden and is
            // replaced by the next attempt, and a reopen re-verifies whatever is at the partial path.
        }
    }

    private void StartBackgroundFlush()
    {
        lock (_gate)
        {
            if (!_backgroundFlush.IsCompleted) return;
            Interlocked.Exchange(ref _unflushedBytes, 0);
            _backgroundFlush = Task.Run(() =>
            {
                try
                {
                    RandomAccess.FlushToDisk(_handle);
                }
                catch (Exception e)
                {
                    // Kept for the next write or completion: on Linux a failed fsync is reported only once, so a
                    // later fsync would succeed and hide that data was lost.
                    lock (_gate) _flushFailure ??= ExceptionDispatchInfo.Capture(e);
                }
            });
        }
    }

    private ChunkInfo ChunkAt(int index)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual((uint)index, (uint)Manifest.ChunkCount, nameof(index));
        return Manifest[index];
    }

    private Exception NotOpen(int state) => state switch
    {
        Completing => new InvalidOperationException($"The download of {Manifest.Id} is already being completed."),
        Completed => new InvalidOperationException($"The download of {Manifest.Id} is already complete."),
        _ => new ObjectDisposedException(nameof(PartialDownload)),
    };
}
