using System.Security.Cryptography;
using Microsoft.Win32.SafeHandles;
using Shoal.Core;

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

    private TempFileSink(string path, SafeFileHandle handle, Manifest manifest, Bitfield verified)
    {
        Path = path;
        Handle = handle;
        _manifest = manifest;
        _verified = verified;
    }

    public string Path { get; }

    public SafeFileHandle Handle { get; }

    public Bitfield Verified
    {
        get
        {
            lock (_gate) return _verified.Clone();
        }
    }

    public static async Task<TempFileSink> OpenAsync(string path, Manifest manifest, CancellationToken cancellationToken)
    {
        var existed = File.Exists(path);
        var handle = File.OpenHandle(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.Read, FileOptions.Asynchronous);
        try
        {
            var verified = new Bitfield(manifest.ChunkCount);
            if (existed && RandomAccess.GetLength(handle) == manifest.Size) await KeepGoodChunksAsync(handle, manifest, verified, cancellationToken).ConfigureAwait(false);
            else RandomAccess.SetLength(handle, manifest.Size);
            return new TempFileSink(path, handle, manifest, verified);
        }
        catch
        {
            handle.Dispose();
            throw;
        }
    }

    private static async Task KeepGoodChunksAsync(SafeFileHandle handle, Manifest manifest, Bitfield verified, CancellationToken cancellationToken)
    {
        var buffer = new byte[manifest.MaxChunkLength];
        for (var i = 0; i < manifest.ChunkCount; i++)
        {
            var chunk = manifest[i];
            var read = await RandomAccess.ReadAsync(handle, buffer.AsMemory(0, chunk.Length), chunk.Offset, cancellationToken).ConfigureAwait(false);
            if (read == chunk.Length && Hash256.Compute(buffer.AsSpan(0, chunk.Length)) == chunk.Hash) verified.Set(i);
        }
    }

    public bool IsVerified(int index)
    {
        lock (_gate) return _verified[index];
    }

    public async ValueTask WriteVerifiedChunkAsync(int index, ReadOnlyMemory<byte> data, CancellationToken cancellationToken)
    {
        await RandomAccess.WriteAsync(Handle, data, _manifest[index].Offset, cancellationToken).ConfigureAwait(false);
        lock (_gate) _verified.Set(index);
    }

    /// <summary>Checks <paramref name="data"/> against chunk <paramref name="index"/> and writes it if it matches.</summary>
    public async ValueTask<bool> TryWriteAsync(int index, ReadOnlyMemory<byte> data, CancellationToken cancellationToken)
    {
        var chunk = _manifest[index];
        if (data.Length != chunk.Length || !HashMatches(data.Span, chunk.Hash)) return false;
        await WriteVerifiedChunkAsync(index, data, cancellationToken).ConfigureAwait(false);
        return true;
    }

    private static bool HashMatches(ReadOnlySpan<byte> data, Hash256 expected)
    {
        Span<byte> digest = stackalloc byte[Hash256.Size];
        SHA256.HashData(data, digest);
        return new Hash256(digest) == expected;
    }

    public void Flush() => RandomAccess.FlushToDisk(Handle);

    public void Dispose() => Handle.Dispose();
}
