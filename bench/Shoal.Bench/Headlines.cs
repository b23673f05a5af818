namespace Shoal.Bench;

/// <summary>
/// One headline figure of issue 9's targets (P1–P7), as a scenario measured it in this run: Shoal's value, the peer's
/// value from the same run where there is one, and whether the target is met. The report's summary and plot read these.
/// </summary>
/// <param name="Key">The target it belongs to: "P1" … "P7".</param>
/// <param name="Measure">What was measured, as a reader should see it ("1 GiB get, 1 → 1").</param>
/// <param name="Unit">"MB/s", "files/s", "ms", "MiB", "%" or "s".</param>
/// <param name="Shoal">Shoal's median.</param>
/// <param name="Peer">The peer's median in the same run, or null when no peer ran for this measure.</param>
/// <param name="PeerName">"Syncthing", "aria2", a bound ("fluid bound"), or "" when <paramref name="Peer"/> is null.</param>
/// <param name="Target">The target in words ("≥ 2.5× Syncthing", "p50 < 300 ms").</param>
/// <param name="Met">Whether the target is met; null when this row only gives context.</param>
internal sealed record Headline(string Key, string Measure, string Unit, double Shoal, double? Peer, string PeerName, string Target, bool? Met);

/// <summary>Collects the headlines of one bench invocation (scenarios may run concurrently with the sampler threads).</summary>
internal static class Headlines
{
    private static readonly Lock Gate = new();
    private static readonly List<Headline> All = [];

    public static void Add(Headline headline)
    {
        lock (Gate) All.Add(headline);
    }

    public static IReadOnlyList<Headline> Snapshot()
    {
        lock (Gate) return [.. All];
    }
}
