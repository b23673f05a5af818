using Microsoft.Win32.SafeHandles;
using Shoal.Core;
using Shoal.Storage;

namespace Shoal.Node.Folder;

/// <summary>
/// An incoming folder file under its temp name next to its final place (same file system, so the final step is a
/// rename). A temp file left by an interrupted pull is reused: chunks that still hash right are kept.
/// </summary>
internal sealed class TempFileSink : IChunkSink, IDisposable
{
    private readonly Lock _gate = new();
    private readonly Manifest _manifest;
    private readonly Bitfield _verified;
    private readonly SafeFileHandle _handle;

    private TempFileSink(SafeFileHandle handle, Manifest manifest, Bitfield verified)
    {
        _handle = handle;
        _manifest = manifest;
        _verified = verified;
    }

    public Bitfield Verified
    {
        get
        {
            lock (_gate) return _verified.Clone();
        }
    }

    public static async Task<TempFileSink> OpenAsync(string path, Manifest manifest, CancellationToken cancellationToken)
    {
        var existed = false;
        SafeFileHandle handle;
        try
        {
            handle = File.OpenHandle(path, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.Read);
        }
        catch (IOException) when (File.Exists(path))
        {
            existed = true;
            handle = File.OpenHandle(path, FileMode.Open, FileAccess.ReadWrite, FileShare.Read);
        }

        try
        {
            var verified = new Bitfield(manifest.ChunkCount);
            if (existed && RandomAccess.GetLength(handle) == manifest.Size)
            {
                var all = Enumerable.Range(0, manifest.ChunkCount);
                var damaged = await ChunkIO.FindDamagedChunksAsync(handle, manifest, all, cancellationToken).ConfigureAwait(false);
                foreach (var index in all.Except(damaged)) verified.Set(index);
            }
            else
            {
                RandomAccess.SetLength(handle, manifest.Size);
            }

            return new TempFileSink(handle, manifest, verified);
        }
        catch
        {
            handle.Dispose();
            throw;
        }
    }

    public bool IsVerified(int index)
    {
        lock (_gate) return _verified[index];
    }

    public async ValueTask WriteVerifiedChunkAsync(int index, ReadOnlyMemory<byte> data, CancellationToken cancellationToken)
    {
        await RandomAccess.WriteAsync(_handle, data, _manifest[index].Offset, cancellationToken).ConfigureAwait(false);
        lock (_gate) _verified.Set(index);
    }

    /// <summary>Checks <paramref name="data"/> against chunk <paramref name="index"/> and writes it if it matches.</summary>
    public async ValueTask<bool> TryWriteAsync(int index, ReadOnlyMemory<byte> data, CancellationToken cancellationToken)
    {
        var chunk = _manifest[index];
        if (data.Length != chunk.Length || Hash256.Compute(data.Span) != chunk.Hash) return false;
        await WriteVerifiedChunkAsync(index, data, cancellationToken).ConfigureAwait(false);
        return true;
    }

    /// <summary>Mode and modification time set through the open handle, then one flush makes bytes and metadata durable.</summary>
    public Task CompleteAsync(UnixFileMode mode, DateTime modifiedUtc, GroupFlush flush)
    {
        if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(_handle, mode);
        File.SetLastWriteTimeUtc(_handle, modifiedUtc);
        return flush.FlushAsync(_handle);
    }

    public void Dispose() => _handle.Dispose();
}
