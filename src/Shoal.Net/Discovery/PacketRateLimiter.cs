namespace Shoal.Net.Discovery;

/// <summary>
/// A token bucket counting packets. Unlike <see cref="Shoal.Core.TokenBucket"/> it never goes into debt: a refused
/// packet costs nothing, so a flood stops being accepted while it lasts and not a moment longer.
/// </summary>
internal sealed class PacketRateLimiter
{
    private readonly TimeProvider _time;
    private readonly double _perSecond;
    private readonly double _burst;
    private double _tokens;
    private long _lastRefill;

    public PacketRateLimiter(double perSecond, TimeProvider time)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(perSecond);
        _time = time;
        _perSecond = perSecond;
        _burst = Math.Max(1, perSecond);
        _tokens = _burst;
        _lastRefill = time.GetTimestamp();
    }

    public bool TryTake()
    {
        var now = _time.GetTimestamp();
        _tokens = Math.Min(_burst, _tokens + (_time.GetElapsedTime(_lastRefill, now).TotalSeconds * _perSecond));
        _lastRefill = now;
        if (_tokens < 1) return false;
        _tokens -= 1;
        return true;
    }
}
