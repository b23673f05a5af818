using Shoal.Testing;

namespace Shoal.Faults.Tests;

public sealed class FaultScheduleTests
{
    [Theory]
    [InlineData("cut")]
    [InlineData("refuse")]
    [InlineData("clear")]
    [InlineData("down delay 100ms")]
    [InlineData("up delay 2s")]
    [InlineData("both throttle 102400")]
    [InlineData("up throttle off")]
    [InlineData("down stall 3s")]
    [InlineData("both stall")]
    [InlineData("up resume")]
    [InlineData("down flip 1e-6")]
    [InlineData("down flip-after 65536")]
    public void An_action_prints_back_as_written(string text) => Assert.Equal(text, FaultAction.Parse(text).ToString());

    [Theory]
    [InlineData("stall 3s", "both stall 3s")]
    [InlineData("DOWN Throttle 100K", "down throttle 102400")]
    [InlineData("up flip-after 1M", "up flip-after 1048576")]
    [InlineData("delay 1.5s", "both delay 1500ms")]
    public void Direction_defaults_to_both_and_sizes_take_units(string text, string canonical) =>
        Assert.Equal(canonical, FaultAction.Parse(text).ToString());

    [Theory]
    [InlineData("")]
    [InlineData("up")]
    [InlineData("up cut")]
    [InlineData("delay")]
    [InlineData("delay 5")]
    [InlineData("throttle fast")]
    [InlineData("flip 2")]
    [InlineData("stall 3s now")]
    [InlineData("explode")]
    public void A_malformed_action_says_what_is_wrong(string text) => Assert.Throws<FormatException>(() => FaultAction.Parse(text));

    [Fact]
    public void A_schedule_is_ordered_by_time()
    {
        var schedule = FaultSchedule.Parse("10s cut; 2s down delay 100ms;5s stall 3s ; 20s clear");

        Assert.Equal("2s down delay 100ms; 5s both stall 3s; 10s cut; 20s clear", schedule.ToString());
        Assert.Throws<FormatException>(() => FaultSchedule.Parse("cut"));
    }

    [Fact]
    public async Task A_schedule_applies_each_step_at_its_time()
    {
        var time = new ManualTimeProvider();
        await using var proxy = FaultProxy.Start(target: null, time: time);
        var applied = new List<string>();
        var running = FaultSchedule.Parse("1s down delay 50ms; 3s up throttle 1K; 5s clear").RunAsync(proxy, applied.Add, time, CancellationToken.None);

        time.Advance(TimeSpan.FromSeconds(1));
        await Sockets.WaitForAsync(() => applied.Count == 1, "the first step");
        Assert.Equal(TimeSpan.FromMilliseconds(50), proxy.Downstream.Delay);
        Assert.Equal(0, proxy.Upstream.BytesPerSecond);
        await Sockets.WaitForAsync(() => time.UntilNextTimer is not null, "the schedule to wait for its next step");
        time.Advance(TimeSpan.FromSeconds(2));
        await Sockets.WaitForAsync(() => applied.Count == 2, "the second step");
        Assert.Equal(1024, proxy.Upstream.BytesPerSecond);
        await Sockets.WaitForAsync(() => time.UntilNextTimer is not null, "the schedule to wait for its last step");
        time.Advance(TimeSpan.FromSeconds(2));
        await running;

        Assert.Equal(["1s down delay 50ms", "3s up throttle 1024", "5s clear"], applied);
        Assert.Equal(TimeSpan.Zero, proxy.Downstream.Delay);
        Assert.Equal(0, proxy.Upstream.BytesPerSecond);
    }

    [Fact]
    public void Random_faults_are_the_same_for_the_same_seed()
    {
        static List<string> Draw(int seed)
        {
            var random = new Random(seed);
            return [.. Enumerable.Range(0, 50).Select(_ => RandomFaults.Next(random, TimeSpan.FromSeconds(2)).ToString())];
        }

        Assert.Equal(Draw(3), Draw(3));
        Assert.NotEqual(Draw(3), Draw(4));
        Assert.Equal(8, Draw(3).Concat(Draw(4)).Select(a => a.Split(' ')[0] is "up" or "down" or "both" ? a.Split(' ')[1] : a).Distinct().Count());
    }
}
