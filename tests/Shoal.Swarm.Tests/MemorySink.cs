using Shoal.Core;

namespace Shoal.Swarm.Tests;

/// <summary>Holds the file in memory and independently checks that only verified data is written, once per chunk.</summary>
public sealed class MemorySink : IChunkSink
{
    private readonly Lock _lock = new();
    private readonly TestFile _file;
    private readonly byte[] _content;
    private readonly Bitfield _verified;
    private readonly int[] _writes;
    private readonly List<string> _violations = [];

    public MemorySink(TestFile file, IEnumerable<int>? alreadyVerified = null)
    {
        _file = file;
        _content = new byte[file.Content.Length];
        _verified = new Bitfield(file.ChunkCount);
        _writes = new int[file.ChunkCount];
        foreach (var index in alreadyVerified ?? [])
        {
            file.Chunk(index).CopyTo(_content, file.Manifest[index].Offset);
            _verified.Set(index);
        }
    }

    private readonly TaskCompletionSource _writeStarted = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>When set, every write fails with this exception.</summary>
    public Exception? WriteFailure { get; init; }

    /// <summary>When set, writes wait for it, as a slow disk would.</summary>
    public Task? WriteGate { get; init; }

    public Task WriteStarted => _writeStarted.Task;

    public Bitfield Verified
    {
        get
        {
            lock (_lock) return _verified.Clone();
        }
    }

    public IReadOnlyList<string> Violations
    {
        get
        {
            lock (_lock) return [.. _violations];
        }
    }

    public byte[] Content
    {
        get
        {
            lock (_lock) return (byte[])_content.Clone();
        }
    }

    public int WriteCount(int index)
    {
        lock (_lock) return _writes[index];
    }

    public async ValueTask WriteVerifiedChunkAsync(int index, ReadOnlyMemory<byte> data, CancellationToken cancellationToken)
    {
        _writeStarted.TrySetResult();
        if (WriteGate is not null) await WriteGate.WaitAsync(cancellationToken);
        if (WriteFailure is not null) throw WriteFailure;
        var chunk = _file.Manifest[index];
        lock (_lock)
        {
            _writes[index]++;
            if (data.Length != chunk.Length || Hash256.Compute(data.Span) != chunk.Hash)
            {
                _violations.Add($"chunk {index} written with bytes that do not match the manifest");
                return;
            }

            if (!_verified.Set(index)) _violations.Add($"chunk {index} written twice");
            data.Span.CopyTo(_content.AsSpan((int)chunk.Offset));
        }
    }
}
