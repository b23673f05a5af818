namespace Shoal.Faults;

/// <summary>A fault at a time after the schedule starts.</summary>
public sealed record ScheduledFault(TimeSpan At, FaultAction Action)
{
    public override string ToString() => $"{At.TotalSeconds:0.###}s {Action}";
}

/// <summary>
/// Faults on a timeline, written <c>TIME ACTION; TIME ACTION; ...</c>, e.g.
/// <c>2s down delay 100ms; 5s stall 3s; 10s cut; 12s down flip-after 64K; 20s clear</c>.
/// </summary>
public sealed record FaultSchedule(IReadOnlyList<ScheduledFault> Steps)
{
    public static FaultSchedule Parse(string text)
    {
        var steps = new List<ScheduledFault>();
        foreach (var entry in text.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var space = entry.IndexOf(' ', StringComparison.Ordinal);
            if (space < 0) throw new FormatException($"'{entry}': expected TIME ACTION, like '5s down stall 2s'");
            steps.Add(new ScheduledFault(FaultAction.ParseDuration(entry[..space]), FaultAction.Parse(entry[(space + 1)..])));
        }

        return new FaultSchedule([.. steps.OrderBy(s => s.At)]);
    }

    /// <summary>Applies each step at its time after now; returns after the last one.</summary>
    public async Task RunAsync(FaultProxy proxy, Action<string> log, TimeProvider time, CancellationToken cancellationToken)
    {
        var start = time.GetTimestamp();
        foreach (var step in Steps)
        {
            var wait = step.At - time.GetElapsedTime(start);
            if (wait > TimeSpan.Zero) await Task.Delay(wait, time, cancellationToken).ConfigureAwait(false);
            step.Action.Apply(proxy);
            log(step.ToString());
        }
    }

    public override string ToString() => string.Join("; ", Steps);
}

/// <summary>Faults drawn from a seeded generator, so a run can be replayed with the same seed.</summary>
public static class RandomFaults
{
    /// <summary>
    /// One fault: a delay, a throttle, a stall for <paramref name="hold"/>, a cut, a refusal, one bit flip within the
    /// next MiB, random flips, or none. Delay, throttle, refusal and random flips last until the next clear.
    /// </summary>
    public static FaultAction Next(Random random, TimeSpan hold)
    {
        var direction = (Direction)random.Next(3);
        return random.Next(8) switch
        {
            0 => new FaultAction("delay", direction, TimeSpan.FromMilliseconds(random.Next(5, 300))),
            1 => new FaultAction("throttle", direction, Number: random.Next(64, 4096) * 1024L),
            2 => new FaultAction("stall", direction, hold),
            3 => new FaultAction("cut"),
            4 => new FaultAction("refuse"),
            5 => new FaultAction("flip-after", direction, Number: random.Next(1 << 20)),
            6 => new FaultAction("flip", direction, Number: random.Next(1, 10) * 1e-6),
            _ => new FaultAction("clear"),
        };
    }

    /// <summary>Every <paramref name="interval"/>: clears the last fault and applies a new one, until cancelled.</summary>
    public static async Task RunAsync(FaultProxy proxy, Random random, TimeSpan interval, Action<string> log, TimeProvider time, CancellationToken cancellationToken)
    {
        while (true)
        {
            proxy.Clear();
            var action = Next(random, interval);
            action.Apply(proxy);
            log(action.ToString());
            await Task.Delay(interval, time, cancellationToken).ConfigureAwait(false);
        }
    }
}
