using Shoal.Core;
using Shoal.Testing;

namespace Shoal.Core.Tests;

public sealed class TokenBucketTests
{
    /// <summary>A sender that waits exactly as told: the achieved rate over ten seconds is the limit within 5%.</summary>
    [Theory]
    [InlineData(1L << 20, 1 << 20)]
    [InlineData(8L << 20, 1 << 20)]
    [InlineData(8L << 20, 4 << 20)]
    [InlineData(200L << 20, 1 << 20)]
    [InlineData(1000, 100)]
    public void Sending_as_fast_as_allowed_for_ten_seconds_stays_within_five_percent_of_the_limit(long bytesPerSecond, int chunk)
    {
        var time = new ManualTimeProvider();
        var bucket = new TokenBucket(bytesPerSecond, time);
        long sent = 0;
        var elapsed = TimeSpan.Zero;
        var tenSeconds = TimeSpan.FromSeconds(10);
        while (true)
        {
            var wait = bucket.Take(chunk);
            if (elapsed + wait > tenSeconds) break;
            time.Advance(wait);
            elapsed += wait;
            sent += chunk;
        }

        var rate = sent / tenSeconds.TotalSeconds;
        Assert.InRange(rate, bytesPerSecond * 0.95, bytesPerSecond * 1.05);
    }

    [Fact]
    public void Zero_is_unlimited_and_a_new_rate_applies_at_once()
    {
        var time = new ManualTimeProvider();
        var bucket = new TokenBucket(0, time);
        Assert.Equal(TimeSpan.Zero, bucket.Take(1L << 30));

        bucket.BytesPerSecond = 1024;
        Assert.Equal(TimeSpan.FromSeconds(2), bucket.Take(2048));
    }

    [Fact]
    public void An_idle_bucket_saves_at_most_a_quarter_second_of_traffic()
    {
        var time = new ManualTimeProvider();
        var bucket = new TokenBucket(4000, time);
        time.Advance(TimeSpan.FromHours(1));

        Assert.Equal(TimeSpan.Zero, bucket.Take(1000));
        Assert.Equal(TimeSpan.FromSeconds(0.25), bucket.Take(1000));
    }

    [Fact]
    public void A_negative_rate_is_rejected() =>
        Assert.Throws<ArgumentOutOfRangeException>(() => new TokenBucket(-1, new ManualTimeProvider()));
}
