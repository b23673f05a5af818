namespace Shoal.Faults;

/// <summary>
/// The faults of one direction of a <see cref="FaultProxy"/>, shared by all its connections and changeable while
/// traffic flows. Offsets and counters are over everything this direction forwarded, across connections.
/// </summary>
public sealed class LinkFaults
{
    /// <summary>Largest piece written at once, so a throttle or a stall takes effect within a few milliseconds.</summary>
    private const int MaxPiece = 16 * 1024;

    private readonly Lock _gate = new();
    private readonly TimeProvider _time;
    private readonly SortedSet<long> _scheduledFlips = [];
    private TaskCompletionSource _flowing = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private ITimer? _stallTimer;
    private long _stallGeneration;
    private long _delayTicks;
    private long _bytesPerSecond;
    private double _flipProbability;
    private long _bytesReceived;
    private long _bytesForwarded;
    private long _bitsFlipped;
    private long _pacedUntil;

    internal LinkFaults(string name, TimeProvider time)
    {
        Name = name;
        _time = time;
        _flowing.SetResult();
    }

    /// <summary><c>up</c> (client to target) or <c>down</c> (target to client).</summary>
    public string Name { get; }

    /// <summary>One-way latency added to every byte. Throughput is not capped by it up to the queue (1 MiB per connection).</summary>
    public TimeSpan Delay
    {
        get => TimeSpan.FromTicks(Interlocked.Read(ref _delayTicks));
        set
        {
            ArgumentOutOfRangeException.ThrowIfLessThan(value, TimeSpan.Zero);
            Interlocked.Exchange(ref _delayTicks, value.Ticks);
        }
    }

    /// <summary>Bytes per second through this direction, all connections together; 0 is unlimited.</summary>
    public long BytesPerSecond
    {
        get => Interlocked.Read(ref _bytesPerSecond);
        set
        {
            ArgumentOutOfRangeException.ThrowIfNegative(value);
            Interlocked.Exchange(ref _bytesPerSecond, value);
        }
    }

    /// <summary>The chance that a byte gets one of its bits flipped, drawn from each connection's seeded generator.</summary>
    public double FlipProbability
    {
        get => Volatile.Read(ref _flipProbability);
        set
        {
            ArgumentOutOfRangeException.ThrowIfNegative(value);
            ArgumentOutOfRangeException.ThrowIfGreaterThan(value, 1.0);
            Volatile.Write(ref _flipProbability, value);
        }
    }

    public bool IsStalled
    {
        get
        {
            lock (_gate) return !_flowing.Task.IsCompleted;
        }
    }

    /// <summary>Bytes read from the sending side so far; what is not yet forwarded is held (at most 1 MiB per connection).</summary>
    public long BytesReceived => Interlocked.Read(ref _bytesReceived);

    /// <summary>Bytes handed on to the other side so far.</summary>
    public long BytesForwarded
    {
        get
        {
            lock (_gate) return _bytesForwarded;
        }
    }

    public long BitsFlipped => Interlocked.Read(ref _bitsFlipped);

    /// <summary>Stops forwarding until <see cref="Resume"/>: what arrives is held (up to the queue, then TCP pushes back), not lost.</summary>
    public void Stall()
    {
        lock (_gate)
        {
            CancelStallTimer();
            if (_flowing.Task.IsCompleted) _flowing = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        }
    }

    /// <summary>Stalls now and resumes by itself after <paramref name="duration"/>, unless stalled or resumed again meanwhile.</summary>
    public void StallFor(TimeSpan duration)
    {
        lock (_gate)
        {
            Stall();
            var generation = _stallGeneration;
            _stallTimer = _time.CreateTimer(_ => ResumeIfStill(generation), null, duration, Timeout.InfiniteTimeSpan);
        }
    }

    public void Resume()
    {
        lock (_gate)
        {
            CancelStallTimer();
            _flowing.TrySetResult();
        }
    }

    private void ResumeIfStill(long generation)
    {
        lock (_gate)
        {
            if (_stallGeneration == generation) Resume();
        }
    }

    private void CancelStallTimer()
    {
        _stallGeneration++;
        _stallTimer?.Dispose();
        _stallTimer = null;
    }

    /// <summary>Flips one bit of the byte at <paramref name="offset"/> of <see cref="BytesForwarded"/>'s count.</summary>
    public void FlipAt(long offset)
    {
        lock (_gate)
        {
            ArgumentOutOfRangeException.ThrowIfLessThan(offset, _bytesForwarded);
            _scheduledFlips.Add(offset);
        }
    }

    /// <summary>Flips one bit of the byte that comes <paramref name="bytes"/> bytes from now (0: the next one).</summary>
    public void FlipAfter(long bytes)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(bytes);
        lock (_gate) _scheduledFlips.Add(_bytesForwarded + bytes);
    }

    /// <summary>No delay, no throttle, no flips pending or random, flowing.</summary>
    public void Clear()
    {
        Delay = TimeSpan.Zero;
        BytesPerSecond = 0;
        FlipProbability = 0;
        lock (_gate) _scheduledFlips.Clear();
        Resume();
    }

    public override string ToString()
    {
        var parts = new List<string>();
        if (Delay > TimeSpan.Zero) parts.Add($"delay {Delay.TotalMilliseconds:0}ms");
        if (BytesPerSecond > 0) parts.Add($"throttle {BytesPerSecond}B/s");
        if (IsStalled) parts.Add("stalled");
        if (FlipProbability > 0) parts.Add($"flip {FlipProbability:0.###e0}");
        return $"{Name}: {(parts.Count == 0 ? "clear" : string.Join(", ", parts))}; {BytesForwarded} bytes, {BitsFlipped} bits flipped";
    }

    internal Task WaitUntilFlowingAsync(CancellationToken cancellationToken)
    {
        Task flowing;
        lock (_gate) flowing = _flowing.Task;
        return flowing.IsCompleted ? Task.CompletedTask : flowing.WaitAsync(cancellationToken);
    }

    /// <summary>How much of <paramref name="available"/> bytes to write next: small pieces while throttled.</summary>
    internal int NextPiece(int available)
    {
        var rate = BytesPerSecond;
        // About 20 ms of traffic per piece keeps a throttled stream smooth instead of bursty.
        var piece = rate > 0 ? (int)Math.Clamp(rate / 50, 512, MaxPiece) : MaxPiece;
        return Math.Min(available, piece);
    }

    /// <summary>How long to hold <paramref name="bytes"/> before sending them so the direction keeps to its rate.</summary>
    internal TimeSpan Pace(int bytes)
    {
        var rate = BytesPerSecond;
        if (rate <= 0) return TimeSpan.Zero;
        lock (_gate)
        {
            var now = _time.GetTimestamp();
            // An idle link earns no credit: a burst after a pause is paced like any other traffic.
            var start = Math.Max(now, _pacedUntil);
            _pacedUntil = start + (long)((double)bytes * _time.TimestampFrequency / rate);
            return _time.GetElapsedTime(now, start);
        }
    }

    /// <summary>
    /// Counts <paramref name="count"/> bytes as forwarded and adds to <paramref name="due"/> the positions, within
    /// them, of flips scheduled there.
    /// </summary>
    internal void Claim(int count, List<int> due)
    {
        lock (_gate)
        {
            var start = _bytesForwarded;
            _bytesForwarded += count;
            if (_scheduledFlips.Count == 0 || count == 0) return;
            var hits = _scheduledFlips.GetViewBetween(start, start + count - 1);
            foreach (var offset in hits) due.Add((int)(offset - start));
            hits.Clear();
        }
    }

    internal void CountReceived(int count) => Interlocked.Add(ref _bytesReceived, count);

    internal void CountFlip() => Interlocked.Increment(ref _bitsFlipped);
}
