namespace Shoal.Core;

/// <summary>
/// A byte-rate limiter. Callers may take more than the burst at once (a whole chunk): the bucket goes into debt
/// and later callers wait it off, so the long-run rate holds without splitting chunks.
/// </summary>
public sealed class TokenBucket
{
    private readonly TimeProvider _time;
    private readonly Lock _gate = new();
    private double _tokens;
    private long _lastRefill;
    private long _bytesPerSecond;

    public TokenBucket(long bytesPerSecond, TimeProvider time)
    {
        _time = time;
        _lastRefill = time.GetTimestamp();
        BytesPerSecond = bytesPerSecond;
    }

    /// <summary>0 means unlimited.</summary>
    public long BytesPerSecond
    {
        get => Interlocked.Read(ref _bytesPerSecond);
        set
        {
            ArgumentOutOfRangeException.ThrowIfNegative(value);
            lock (_gate)
            {
                _bytesPerSecond = value;
                _tokens = Math.Min(_tokens, Burst(value));
            }
        }
    }

    /// <summary>Takes <paramref name="bytes"/> now and returns how long the caller must wait before using them.</summary>
    public TimeSpan Take(long bytes)
    {
        lock (_gate)
        {
            if (_bytesPerSecond == 0) return TimeSpan.Zero;
            var now = _time.GetTimestamp();
            var elapsed = _time.GetElapsedTime(_lastRefill, now).TotalSeconds;
            _lastRefill = now;
            _tokens = Math.Min(Burst(_bytesPerSecond), _tokens + (elapsed * _bytesPerSecond));
            _tokens -= bytes;
            return _tokens >= 0 ? TimeSpan.Zero : TimeSpan.FromSeconds(-_tokens / _bytesPerSecond);
        }
    }

    public async ValueTask WaitAsync(long bytes, CancellationToken cancellationToken)
    {
        var delay = Take(bytes);
        if (delay > TimeSpan.Zero) await Task.Delay(delay, _time, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>A quarter second of traffic: enough to absorb jitter, small enough to keep the rate smooth.</summary>
    private static double Burst(long bytesPerSecond) => bytesPerSecond / 4.0;
}
