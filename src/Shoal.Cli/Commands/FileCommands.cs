using Shoal.Core;
using Shoal.Node.Api;

namespace Shoal.Cli.Commands;

public static class FileCommands
{
    private static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(200);

    public static async Task<int> ShareAsync(Arguments args, CancellationToken cancellationToken)
    {
        if (args.Positionals.Count == 0) throw new UsageException("give at least one file or directory to share");
        var home = CommandLine.HomeOf(args);
        using var client = ApiClient.Connect(home);
        var paths = args.Positionals.Select(Path.GetFullPath).ToList();
        var started = DateTimeOffset.UtcNow;
        var sharing = client.PostAsync("api/share", new ShareRequest(paths), ApiJson.Default.ShareRequest, ApiJson.Default.IReadOnlyListSharedFileDto, home, cancellationToken);
        IReadOnlyList<SharedFileDto> shared;
        using (var progress = new ProgressLine(Console.Error, Console.IsErrorRedirected))
        {
            while (await Task.WhenAny(sharing, Task.Delay(PollInterval, cancellationToken)).ConfigureAwait(false) != sharing)
            {
                if (await HashingAsync(client, home, "share", paths, cancellationToken).ConfigureAwait(false) is { } job) progress.Update(job);
            }

            shared = await sharing.ConfigureAwait(false);
            var seconds = (DateTimeOffset.UtcNow - started).TotalSeconds;
            progress.Finish($"hashed {shared.Count} file{(shared.Count == 1 ? "" : "s")}, {ByteSize.Format(shared.Sum(f => f.Size))} in {seconds:0.0}s");
        }

        if (!ApiClient.PrintJsonIfAsked(args, shared, ApiJson.Default.IReadOnlyListSharedFileDto))
        {
            foreach (var file in shared) Console.Out.WriteLine(file.Link);
        }

        return ExitCodes.Success;
    }

    /// <summary>Exit 0 once every chunk of every file has its copies; 4 when too few nodes could take them.</summary>
    public static async Task<int> PutAsync(Arguments args, CancellationToken cancellationToken)
    {
        if (args.Positionals.Count == 0) throw new UsageException("give at least one file or directory to put");
        var replicas = args.Int("--replicas") ?? 2;
        if (replicas < 1) throw new UsageException("--replicas must be at least 1");
        var home = CommandLine.HomeOf(args);
        using var client = ApiClient.Connect(home);
        var paths = args.Positionals.Select(Path.GetFullPath).ToList();
        var putting = client.PostAsync("api/put", new PutRequest(paths, replicas), ApiJson.Default.PutRequest, ApiJson.Default.IReadOnlyListPutFileDto, home, cancellationToken);
        using (var progress = new ProgressLine(Console.Error, Console.IsErrorRedirected))
        {
            while (await Task.WhenAny(putting, Task.Delay(PollInterval, cancellationToken)).ConfigureAwait(false) != putting)
            {
                // Each file is hashed, then its chunks are placed: show whichever the current file is doing.
                var hashing = await HashingAsync(client, home, "put", paths, cancellationToken).ConfigureAwait(false);
                var active = await client.GetAsync("api/put", ApiJson.Default.IReadOnlyListPutProgressDto, home, cancellationToken).ConfigureAwait(false);
                var current = hashing is null ? null : Path.GetFileName(hashing.Current);
                if (active.FirstOrDefault(p => p.Name == current) is { } placing) progress.Update(placing);
                else if (hashing is not null) progress.Update(hashing);
            }
        }

        var stored = await putting.ConfigureAwait(false);
        if (!ApiClient.PrintJsonIfAsked(args, stored, ApiJson.Default.IReadOnlyListPutFileDto))
        {
            foreach (var file in stored) Console.Out.WriteLine(file.Link);
        }

        var incomplete = stored.Where(f => f.Copies < f.Replicas).ToList();
        foreach (var file in incomplete)
        {
            var noRoom = file.NoRoom.Count == 0 ? "" : $"; no room at {string.Join(", ", file.NoRoom)} (disk or store quota full)";
            Console.Error.WriteLine(
                $"shoal put: {file.Name}: {file.Copies} of {file.Replicas} copies of every chunk ({file.ReachableNodes} node(s) reachable{noRoom}); kept, and copied further as nodes appear or have room");
        }

        return incomplete.Count == 0 ? ExitCodes.Success : ExitCodes.Incomplete;
    }

    /// <summary>This command's own share or put among those the node is hashing (found by the paths it asked for).</summary>
    private static async Task<IndexingDto?> HashingAsync(ApiClient client, Node.Home.NodeHome home, string kind, IReadOnlyList<string> paths, CancellationToken cancellationToken)
    {
        var jobs = await client.GetAsync("api/indexing", ApiJson.Default.IReadOnlyListIndexingDto, home, cancellationToken).ConfigureAwait(false);
        return jobs.FirstOrDefault(j => j.Kind == kind && j.File > 0 && j.Paths.SequenceEqual(paths, StringComparer.Ordinal));
    }

    public static async Task<int> GetAsync(Arguments args, CancellationToken cancellationToken)
    {
        if (args.Positionals.Count == 0) throw new UsageException("give at least one shoal: link");
        var links = args.Positionals.Select(text => ShoalLink.TryParse(text, out var link, out var error) ? link : throw new UsageException(error)).ToList();
        var directory = Path.GetFullPath(args.Value("-o") ?? args.Value("--output") ?? Environment.CurrentDirectory);
        var wait = TimeSpan.FromSeconds(args.Int("--wait") ?? 60);
        var home = CommandLine.HomeOf(args);
        using var client = ApiClient.Connect(home);
        var transfers = new List<TransferDto>();
        foreach (var link in links)
        {
            transfers.Add(await client.PostAsync("api/downloads", new GetRequest(link.ToString(), directory), ApiJson.Default.GetRequest, ApiJson.Default.TransferDto, home, cancellationToken).ConfigureAwait(false));
        }

        if (args.Has("--detach"))
        {
            foreach (var transfer in transfers) Console.Out.WriteLine($"queued {transfer.Link} → {directory}");
            return ExitCodes.Success;
        }

        var exit = ExitCodes.Success;
        foreach (var transfer in transfers)
        {
            var result = await FollowAsync(client, home, transfer, wait, cancellationToken).ConfigureAwait(false);
            if (result != ExitCodes.Success) exit = result;
        }

        return exit;
    }

    /// <summary>Shows one download's progress until it is complete and verified, fails, or finds no source in time.</summary>
    private static async Task<int> FollowAsync(ApiClient client, Node.Home.NodeHome home, TransferDto transfer, TimeSpan wait, CancellationToken cancellationToken)
    {
        using var progress = new ProgressLine(Console.Error, Console.IsErrorRedirected);
        var started = DateTimeOffset.UtcNow;
        var sourcelessSince = DateTimeOffset.UtcNow;
        while (true)
        {
            transfer = await client.GetAsync($"api/downloads/{transfer.Id}", ApiJson.Default.TransferDto, home, cancellationToken).ConfigureAwait(false);
            switch (transfer.State)
            {
                case "completed":
                    progress.Finish($"{transfer.Name}: {ByteSize.Format(transfer.Size)} verified in {(DateTimeOffset.UtcNow - started).TotalSeconds:0.0}s");
                    Console.Out.WriteLine(transfer.Path);
                    return ExitCodes.Success;
                case "paused":
                    progress.Finish(null);
                    Console.Error.WriteLine($"shoal get: {transfer.Name}: paused; carry on with: shoal resume {transfer.Link}");
                    return ExitCodes.Failure;
                case "failed":
                case "cancelled":
                    progress.Finish(null);
                    Console.Error.WriteLine($"shoal get: {transfer.Name}: {transfer.Error ?? transfer.State}");
                    return ExitCodes.Failure;
            }

            // A full disk is no missing source: the download goes on once there is room, and the line says where.
            if (transfer.Sources > 0 || transfer.State == "diskfull") sourcelessSince = DateTimeOffset.UtcNow;
            if (DateTimeOffset.UtcNow - sourcelessSince > wait)
            {
                progress.Finish(null);
                var why = transfer.Error is null ? "" : $" (last error: {transfer.Error})";
                Console.Error.WriteLine(
                    $"shoal get: no online node has {(transfer.Name.Length > 0 ? transfer.Name : transfer.Id)}{why}; start a node that has it (or wait longer with --wait): " +
                    "this node keeps the download queued and finishes it when a source appears (see 'shoal transfers')");
                return ExitCodes.Failure;
            }

            progress.Update(transfer);
            await Task.Delay(PollInterval, cancellationToken).ConfigureAwait(false);
        }
    }

    public static async Task<int> ListAsync(Arguments args, CancellationToken cancellationToken)
    {
        if (args.Positionals.Count > 1) throw new UsageException("give at most one search text");
        var query = args.Positionals.Count == 1 ? "?q=" + Uri.EscapeDataString(args.Positionals[0]) : "";
        var files = await ApiClient.FetchAsync(args, "api/files" + query, ApiJson.Default.IReadOnlyListFileDto, cancellationToken).ConfigureAwait(false);
        if (ApiClient.PrintJsonIfAsked(args, files, ApiJson.Default.IReadOnlyListFileDto)) return ExitCodes.Success;

        if (files.Count == 0)
        {
            Console.Out.WriteLine(query.Length > 0 ? $"No file in the network has '{args.Positionals[0]}' in its name." : "No files known yet. Share one with 'shoal share PATH'.");
            return ExitCodes.Success;
        }

        Table.Write(["NAME", "SIZE", "REPLICAS", "LOCAL", "LINK"], [.. files.Select(f => new[] { f.Name, ByteSize.Format(f.Size), f.Replicas == 0 ? "0 (unavailable)" : f.Replicas.ToString(System.Globalization.CultureInfo.InvariantCulture), f.Local, f.Link })]);
        return ExitCodes.Success;
    }

    /// <summary>shoal pause / shoal resume: stops a download keeping what it has, or carries on (a failed one: retries).</summary>
    public static async Task<int> PauseOrResumeAsync(Arguments args, string action, CancellationToken cancellationToken)
    {
        if (args.Positionals.Count == 0) throw new UsageException("give at least one shoal: link");
        var links = args.Positionals.Select(text => ShoalLink.TryParse(text, out var link, out var error) ? link : throw new UsageException(error)).ToList();
        var home = CommandLine.HomeOf(args);
        using var client = ApiClient.Connect(home);
        foreach (var link in links)
        {
            var transfer = await client.PostAsync($"api/downloads/{link.Id}/{action}", ApiJson.Default.TransferDto, home, cancellationToken).ConfigureAwait(false);
            Console.Out.WriteLine($"{transfer.Name}: {transfer.State} ({ByteSize.Format(transfer.VerifiedBytes)} of {ByteSize.Format(transfer.Size)})");
        }

        return ExitCodes.Success;
    }

    public static async Task<int> RemoveAsync(Arguments args, CancellationToken cancellationToken)
    {
        if (args.Positionals.Count == 0) throw new UsageException("give at least one shoal: link");
        var links = args.Positionals.Select(text => ShoalLink.TryParse(text, out var link, out var error) ? link : throw new UsageException(error)).ToList();
        var home = CommandLine.HomeOf(args);
        using var client = ApiClient.Connect(home);
        foreach (var link in links)
        {
            await client.DeleteAsync($"api/files/{link.Id}", home, cancellationToken).ConfigureAwait(false);
            Console.Out.WriteLine($"stopped sharing {link}");
        }

        return ExitCodes.Success;
    }
}
