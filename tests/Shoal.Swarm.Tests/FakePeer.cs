using System.Security.Cryptography;
using System.Text;
using System.Threading.Channels;
using Shoal.Core;

namespace Shoal.Swarm.Tests;

/// <summary>
/// An in-memory peer serving from a <see cref="TestFile"/>. Ungated it answers after a yield; gated, each request
/// waits until the test releases it (read them from <see cref="NextAsync"/>) or <see cref="Open"/> is called.
/// </summary>
public sealed class FakePeer : ISwarmPeer
{
    public static readonly TimeSpan SafetyTimeout = TimeSpan.FromSeconds(30);

    private readonly Lock _lock = new();
    private readonly TestFile _file;
    private readonly Channel<PendingRequest> _pending = Channel.CreateUnbounded<PendingRequest>();
    private readonly Channel<FakeBuffer> _served = Channel.CreateUnbounded<FakeBuffer>();
    private readonly List<PendingRequest> _held = [];
    private readonly List<int> _requested = [];
    private readonly List<int> _cancelRequested = [];
    private readonly List<int> _cancelled = [];
    private readonly List<int> _badData = [];
    private readonly List<string> _violations = [];
    private readonly TaskCompletionSource _firstBadData = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private bool _gated;

    public FakePeer(string name, TestFile file, bool gated = false)
    {
        Name = name;
        Id = DeviceId.FromBytes(SHA256.HashData(Encoding.UTF8.GetBytes(name)));
        _file = file;
        _gated = gated;
    }

    public DeviceId Id { get; }

    public string Name { get; }

    /// <summary>Rewrites the bytes served for a chunk (corruption, truncation).</summary>
    public Func<int, byte[], byte[]>? Tamper { get; init; }

    /// <summary>An exception to throw instead of serving a chunk, or null to serve it.</summary>
    public Func<int, Exception?>? Fault { get; init; }

    public BufferLedger? Ledger { get; init; }

    /// <summary>Counts bytes from request until the buffer is disposed or the request fails.</summary>
    public ByteGauge? Gauge { get; init; }

    public IReadOnlyList<int> Requested => Copy(_requested);

    /// <summary>Chunks whose request token was cancelled, recorded inside the cancellation itself.</summary>
    public IReadOnlyList<int> CancelRequested => Copy(_cancelRequested);

    /// <summary>Requests that ended by throwing <see cref="OperationCanceledException"/>.</summary>
    public IReadOnlyList<int> Cancelled => Copy(_cancelled);

    public IReadOnlyList<int> BadData => Copy(_badData);

    public Task FirstBadData => _firstBadData.Task;

    /// <summary>Misuse seen by the peer; recorded, since throwing would just look like a peer failure to the engine.</summary>
    public IReadOnlyList<string> Violations
    {
        get
        {
            lock (_lock) return [.. _violations];
        }
    }

    public async Task<PendingRequest> NextAsync() =>
        await _pending.Reader.ReadAsync().AsTask().WaitAsync(SafetyTimeout);

    /// <summary>The next buffer this peer hands over, in order.</summary>
    public async Task<FakeBuffer> NextServedAsync() =>
        await _served.Reader.ReadAsync().AsTask().WaitAsync(SafetyTimeout);

    /// <summary>Releases every held request and stops holding new ones.</summary>
    public void Open()
    {
        List<PendingRequest> held;
        lock (_lock)
        {
            _gated = false;
            held = [.. _held];
            _held.Clear();
        }

        foreach (var request in held) request.Release();
    }

    public async Task<IChunkBuffer> RequestChunkAsync(FileId file, int chunkIndex, int expectedLength, CancellationToken cancellationToken)
    {
        PendingRequest? pending = null;
        lock (_lock)
        {
            if (file != _file.Manifest.Id || expectedLength != _file.Manifest[chunkIndex].Length)
            {
                _violations.Add($"request for chunk {chunkIndex} names the wrong file or length");
            }

            _requested.Add(chunkIndex);
            if (_gated)
            {
                pending = new PendingRequest(chunkIndex);
                _held.Add(pending);
            }
        }

        Gauge?.Add(expectedLength);
        var handedOver = false;
        try
        {
            using (cancellationToken.Register(() =>
            {
                lock (_lock) _cancelRequested.Add(chunkIndex);
                pending?.Cancel(cancellationToken);
            }))
            {
                if (pending is null)
                {
                    await Task.Yield();
                }
                else
                {
                    _pending.Writer.TryWrite(pending);
                    await pending.Completion;
                }
            }

            cancellationToken.ThrowIfCancellationRequested();
            if (Fault?.Invoke(chunkIndex) is { } fault) throw fault;
            var data = _file.Chunk(chunkIndex);
            if (Tamper is not null) data = Tamper(chunkIndex, data);
            var buffer = new FakeBuffer(data, () => Gauge?.Subtract(expectedLength));
            Ledger?.Add(buffer);
            _served.Writer.TryWrite(buffer);
            handedOver = true;
            return buffer;
        }
        catch (OperationCanceledException)
        {
            lock (_lock) _cancelled.Add(chunkIndex);
            throw;
        }
        finally
        {
            if (!handedOver) Gauge?.Subtract(expectedLength);
        }
    }

    public void ReportBadData(FileId file, int chunkIndex)
    {
        lock (_lock)
        {
            if (file != _file.Manifest.Id) _violations.Add($"bad data for chunk {chunkIndex} reported against the wrong file");
            _badData.Add(chunkIndex);
        }

        _firstBadData.TrySetResult();
    }

    private List<int> Copy(List<int> list)
    {
        lock (_lock) return [.. list];
    }
}

/// <summary>A request held by a gated peer. Completing it runs the engine's continuation on the caller's thread, as a network reader would.</summary>
public sealed class PendingRequest(int index)
{
    private readonly TaskCompletionSource _completion = new();

    public int Index { get; } = index;

    public Task Completion => _completion.Task;

    public void Release() => _completion.TrySetResult();

    public void Fail(Exception exception) => _completion.TrySetException(exception);

    public void Cancel(CancellationToken token) => _completion.TrySetCanceled(token);
}

public sealed class FakeBuffer(byte[] data, Action onDispose) : IChunkBuffer
{
    private readonly TaskCompletionSource _disposed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _disposals;

    public int Disposals => Volatile.Read(ref _disposals);

    public Task Disposed => _disposed.Task;

    public ReadOnlyMemory<byte> Memory
    {
        get
        {
            Assert.Equal(0, Disposals);
            return data;
        }
    }

    public void Dispose()
    {
        if (Interlocked.Increment(ref _disposals) != 1) return;
        onDispose();
        _disposed.TrySetResult();
    }
}

/// <summary>Every buffer handed out, so a test can check each was disposed exactly once.</summary>
public sealed class BufferLedger
{
    private readonly Lock _lock = new();
    private readonly List<FakeBuffer> _buffers = [];

    public int Count
    {
        get
        {
            lock (_lock) return _buffers.Count;
        }
    }

    public void Add(FakeBuffer buffer)
    {
        lock (_lock) _buffers.Add(buffer);
    }

    public void AssertEachDisposedOnce()
    {
        lock (_lock)
        {
            Assert.All(_buffers, buffer => Assert.Equal(1, buffer.Disposals));
        }
    }
}

/// <summary>A byte count with its high-water mark, shared by the peers of one download.</summary>
public sealed class ByteGauge
{
    private readonly Lock _lock = new();
    private long _current;

    public long Peak { get; private set; }

    public long Current
    {
        get
        {
            lock (_lock) return _current;
        }
    }

    public void Add(long bytes)
    {
        lock (_lock)
        {
            _current += bytes;
            Peak = Math.Max(Peak, _current);
        }
    }

    public void Subtract(long bytes)
    {
        lock (_lock) _current -= bytes;
    }
}
