using Shoal.Core;
using Shoal.Node.Api;

namespace Shoal.Cli.Commands;

public static class InfoCommands
{
    public static async Task<int> StatusAsync(Arguments args, CancellationToken cancellationToken)
    {
        var status = await ApiClient.FetchAsync(args, "api/status", ApiJson.Default.StatusDto, cancellationToken).ConfigureAwait(false);
        if (ApiClient.PrintJsonIfAsked(args, status, ApiJson.Default.StatusDto)) return ExitCodes.Success;

        Console.Out.WriteLine($"Node       {status.Name}");
        Console.Out.WriteLine($"Device ID  {status.Id}");
        Console.Out.WriteLine($"Network    {status.Network}");
        Console.Out.WriteLine($"Listening  {string.Join(", ", status.Listen)}");
        if (status.SeenAs is { Count: > 0 } seenAs) Console.Out.WriteLine($"Seen as    {string.Join(", ", seenAs)} (by connected peers)");
        Console.Out.WriteLine($"Web UI     {status.Api}");
        Console.Out.WriteLine($"Peers      {status.PeersOnline} online of {status.PeersKnown} known");
        Console.Out.WriteLine($"Transfers  {status.ActiveTransfers} active; {ByteSize.Format(status.UploadedBytes)} sent, {ByteSize.Format(status.DownloadedBytes)} received");
        foreach (var tracker in status.Trackers)
        {
            var state = tracker.Online ? $"registered, {tracker.Peers} other member{(tracker.Peers == 1 ? "" : "s")} known" : $"unreachable: {tracker.Error ?? "not contacted yet"}";
            if (tracker.PublicAddress is { } seen) state += $"; sees this node at {seen}";
            if (tracker.Reachable is { } reachable) state += reachable ? ", reachable from outside" : ", not reachable from outside (punching or a relay needed)";
            Console.Out.WriteLine($"Tracker    {tracker.Url}: {state}");
        }

        WriteFolder(status.Folder);
        return ExitCodes.Success;
    }

    /// <summary>shoal transfers: every download with its state, progress, rate, ETA and sources.</summary>
    public static async Task<int> TransfersAsync(Arguments args, CancellationToken cancellationToken)
    {
        if (args.Positionals.Count > 0) throw new UsageException($"unexpected '{args.Positionals[0]}'");
        var transfers = await ApiClient.FetchAsync(args, "api/downloads", ApiJson.Default.IReadOnlyListTransferDto, cancellationToken).ConfigureAwait(false);
        if (ApiClient.PrintJsonIfAsked(args, transfers, ApiJson.Default.IReadOnlyListTransferDto)) return ExitCodes.Success;
        if (transfers.Count == 0)
        {
            Console.Out.WriteLine("No downloads. Start one with 'shoal get LINK'.");
            return ExitCodes.Success;
        }

        var culture = System.Globalization.CultureInfo.InvariantCulture;
        Table.Write(
            ["NAME", "STATE", "DONE", "SIZE", "RATE", "ETA", "SOURCES", "LINK"],
            [.. transfers.Select(t => new[]
            {
                t.Name,
                t.Error is null ? t.State : $"{t.State}: {t.Error}",
                t.Size == 0 ? "-" : (100.0 * t.VerifiedBytes / t.Size).ToString("0.0", culture) + "%",
                ByteSize.Format(t.Size),
                t.State == "downloading" ? ByteSize.Format(t.BytesPerSecond) + "/s" : "-",
                t.EtaSeconds is { } eta && t.State == "downloading" ? TimeSpan.FromSeconds(Math.Ceiling(eta)).ToString(eta >= 3600 ? @"h\:mm\:ss" : @"m\:ss", culture) : "-",
                t.Sources.ToString(culture),
                t.Link,
            })]);
        return ExitCodes.Success;
    }

    /// <summary>shoal folder: the synced folder's state and its recent changes.</summary>
    public static async Task<int> FolderAsync(Arguments args, CancellationToken cancellationToken)
    {
        if (args.Positionals.Count > 0) throw new UsageException($"unexpected '{args.Positionals[0]}'");
        var events = args.Int("--events") ?? 20;
        var folder = await ApiClient.FetchAsync(args, $"api/folder?events={events}", ApiJson.Default.FolderDto, cancellationToken).ConfigureAwait(false);
        if (ApiClient.PrintJsonIfAsked(args, folder, ApiJson.Default.FolderDto)) return ExitCodes.Success;
        WriteFolder(folder);
        if (folder.Events.Count == 0) Console.Out.WriteLine("No changes yet.");
        return ExitCodes.Success;
    }

    private static void WriteFolder(FolderDto folder)
    {
        var state = folder.State switch
        {
            "syncing" => $"syncing {folder.NeedFiles} file{(folder.NeedFiles == 1 ? "" : "s")}",
            "idle" => "in sync",
            _ => folder.State,
        };
        var conflicts = folder.Conflicts == 0 ? "" : $", {folder.Conflicts} conflict cop{(folder.Conflicts == 1 ? "y" : "ies")}";
        Console.Out.WriteLine($"Folder     {folder.Path}: {state}; {folder.Files} files ({ByteSize.Format(folder.Bytes)}), {folder.Directories} directories{conflicts}");
        if (folder.Problem is not null) Console.Out.WriteLine($"           {folder.Problem}");
        if (folder.Events.Count == 0) return;
        Console.Out.WriteLine("Recent changes");
        Table.Write(
            ["WHEN", "WHAT", "PATH", "BY", "DETAIL"],
            [.. folder.Events.Select(e => new[] { e.Time.ToLocalTime().ToString("yyyy-MM-dd HH:mm:ss", System.Globalization.CultureInfo.InvariantCulture), e.Kind, e.Path, e.DeviceName, e.Detail })]);
    }

    public static async Task<int> PeersAsync(Arguments args, CancellationToken cancellationToken)
    {
        var peers = await ApiClient.FetchAsync(args, "api/peers", ApiJson.Default.IReadOnlyListPeerDto, cancellationToken).ConfigureAwait(false);
        if (ApiClient.PrintJsonIfAsked(args, peers, ApiJson.Default.IReadOnlyListPeerDto)) return ExitCodes.Success;

        if (peers.Count == 0)
        {
            Console.Out.WriteLine("No peers known yet. Add one with 'shoal up --peer HOST:PORT', or invite one with 'shoal invite'.");
            return ExitCodes.Success;
        }

        var rows = peers.Select(p => new[]
        {
            p.Name,
            p.Revoked ? "revoked" : p.Online ? "online" : "offline",
            p.Link ?? "",
            p.Online ? (p.RttMs is { } rtt ? $"{rtt:0.0} ms" : "-") : Ago(p.LastSeen),
            p.Online ? $"↑{ByteSize.Format(p.UploadRate)}/s ↓{ByteSize.Format(p.DownloadRate)}/s" : "",
            string.Join(", ", p.Addresses),
            p.Id,
        }).ToList();
        Table.Write(["NAME", "STATE", "LINK", "RTT/SEEN", "RATES", "ADDRESSES", "DEVICE ID"], rows);
        return ExitCodes.Success;
    }

    public static async Task<int> RevokeAsync(Arguments args, CancellationToken cancellationToken)
    {
        if (args.Positionals.Count != 1) throw new UsageException("give the device ID to remove from the network");
        if (!Core.DeviceId.TryParse(args.Positionals[0], out _, out var error)) throw new UsageException(error);
        var home = CommandLine.HomeOf(args);
        using var client = ApiClient.Connect(home);
        var revoked = await client.PostAsync("api/revoke", new RevokeRequest(args.Positionals[0]), ApiJson.Default.RevokeRequest, ApiJson.Default.RevokeRequest, home, cancellationToken).ConfigureAwait(false);
        Console.Out.WriteLine($"revoked {revoked.Device}: every member refuses it from now on");
        return ExitCodes.Success;
    }

    private static string Ago(DateTimeOffset? when)
    {
        if (when is null) return "never";
        var age = DateTimeOffset.UtcNow - when.Value;
        return age.TotalSeconds < 60 ? $"{age.TotalSeconds:0}s ago"
            : age.TotalMinutes < 60 ? $"{age.TotalMinutes:0}m ago"
            : age.TotalHours < 48 ? $"{age.TotalHours:0}h ago"
            : $"{age.TotalDays:0}d ago";
    }
}

public static class Table
{
    public static void Write(string[] headers, IReadOnlyList<string[]> rows)
    {
        var widths = headers.Select((h, i) => Math.Max(h.Length, rows.Count == 0 ? 0 : rows.Max(r => r[i].Length))).ToArray();
        Console.Out.WriteLine(Line(headers));
        foreach (var row in rows) Console.Out.WriteLine(Line(row));

        string Line(string[] cells) => string.Join("  ", cells.Select((c, i) => i == cells.Length - 1 ? c : c.PadRight(widths[i]))).TrimEnd();
    }
}
