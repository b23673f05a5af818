using Shoal.Tracker;

namespace Shoal.Cli.Commands;

public static class TrackerCommand
{
    public static async Task<int> RunAsync(Arguments args)
    {
        if (args.Positionals.Count > 0) throw new UsageException($"unexpected '{args.Positionals[0]}'");
        var interval = args.Int("--interval") ?? 30;
        if (interval < 1) throw new UsageException("--interval: at least 1 second");
        using var log = Foreground.CreateLog(args);
        var options = new TrackerOptions
        {
            Listen = args.Value("--listen") ?? $"[::]:{TrackerOptions.DefaultPort}",
            Database = args.Value("--db") ?? Path.GetFullPath("tracker.db"),
            Interval = TimeSpan.FromSeconds(interval),
            Relays = args.Values("--relay"),
            LoggerFactory = log.Factory,
        };

        using var stop = Foreground.StopOnSignal();
        await using var tracker = await TrackerHost.StartAsync(options, stop.Token).ConfigureAwait(false);
        log.Say($"Shoal tracker is up on {tracker.Url} ({tracker.DatabaseDescription}).");
        await Foreground.WaitAsync(stop.Token, log).ConfigureAwait(false);
        return ExitCodes.Success;
    }
}
