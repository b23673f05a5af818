namespace Shoal.Swarm;

/// <summary>Bytes per second over a sliding window of recent samples. Not thread-safe.</summary>
internal sealed class RateMeter(TimeProvider time, TimeSpan window, long startTimestamp)
{
    private readonly Queue<(long Timestamp, long Bytes)> _samples = new();
    private long _bytesInWindow;

    public void Add(long timestamp, long bytes)
    {
        _samples.Enqueue((timestamp, bytes));
        _bytesInWindow += bytes;
    }

    public double BytesPerSecond(long now)
    {
        while (_samples.TryPeek(out var oldest) && time.GetElapsedTime(oldest.Timestamp, now) >= window)
        {
            _samples.Dequeue();
            _bytesInWindow -= oldest.Bytes;
        }

        // Until a whole window has passed, dividing by the full window would understate a fresh download's rate.
        var span = TimeSpan.FromTicks(Math.Min(window.Ticks, time.GetElapsedTime(startTimestamp, now).Ticks));
        return span <= TimeSpan.Zero ? 0 : _bytesInWindow / span.TotalSeconds;
    }
}
