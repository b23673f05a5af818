using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.OpenApi;
using Microsoft.AspNetCore.Routing;
using Microsoft.OpenApi;
using Shoal.Core;
using Shoal.Net.Connections;
using Shoal.Net.Tracking;
using Shoal.Node.Content;
using Shoal.Node.Home;
using Shoal.Node.Peers;
using Shoal.Node.Replication;
using Shoal.Node.Transfers;
using Shoal.Protocol;

namespace Shoal.Node.Api;

/// <summary>The REST API under /api. The CLI uses it; every call needs the token the node wrote into its home.</summary>
public static class NodeApi
{
    public static void Map(WebApplication app, ShoalNode node, ApiAccess access)
    {
        app.Use(async (context, next) =>
        {
            if (IPAddress.IsLoopback(node.ApiEndPoint.Address) && !ApiAccess.IsLoopbackHost(context.Request.Host))
            {
                context.Response.StatusCode = StatusCodes.Status421MisdirectedRequest;
                await context.Response.WriteAsJsonAsync(new ErrorDto("this node answers only requests addressed to localhost"), ApiJson.Default.ErrorDto).ConfigureAwait(false);
                return;
            }

            if (context.Request.Path.StartsWithSegments("/api") && !IsOpen(context, access) && !access.IsAuthorised(context.Request))
            {
                context.Response.StatusCode = StatusCodes.Status401Unauthorized;
                await context.Response.WriteAsJsonAsync(new ErrorDto("missing or wrong access token (see api.json in the node's home, or sign in)"), ApiJson.Default.ErrorDto).ConfigureAwait(false);
                return;
            }

            await next(context).ConfigureAwait(false);
        });

        app.MapOpenApi("/openapi/{documentName}.json");
        var feed = new LiveFeed(node);
        var api = app.MapGroup("/api");
        api.MapPost("/login", (LoginRequest request, HttpContext context) => Login(access, context, request)).Produces<LoginDto>().Produces<ErrorDto>(401);
        api.MapGet("/status", () => Status(node));
        api.MapGet("/events", (HttpContext context, CancellationToken _) => feed.RunAsync(context)).Produces(200, contentType: "text/event-stream");
        api.MapGet("/peers", () => Peers(node));
        api.MapGet("/folder", (int? events) => Folder(node, events ?? 50));
        api.MapPost("/folder/scan", async (CancellationToken ct) =>
        {
            var summary = await node.Folder.ScanAsync(null, ct).ConfigureAwait(false);
            return new ScanDto(summary.Changes, summary.FilesHashed, summary.BytesHashed, summary.Skipped);
        });
        api.MapPost("/revoke", (RevokeRequest request) => Revoke(node, request)).Produces<RevokeRequest>().Produces<ErrorDto>(400);
        api.MapGet("/limits", () => new LimitsDto(node.UploadLimit.BytesPerSecond, node.DownloadLimit.BytesPerSecond));
        api.MapPut("/limits", (LimitsDto request) => SetLimits(node, request)).Produces<LimitsDto>().Produces<ErrorDto>(400);
        api.MapGet("/settings", () => Settings(node, access));
        api.MapPut("/settings", (SettingsRequest request) => UpdateSettings(node, access, request)).Produces<SettingsChangeDto>().Produces<ErrorDto>(400);
        ConfigApi.Map(api, node);
        api.MapGet("/invite", () => new InviteDto(NodeSetup.CreateInvite(node.Home, ShoalNode.AdvertisedAddresses(node.ListenEndPoint))));
        api.MapGet("/files", async (string? q, CancellationToken ct) => await FilesAsync(node, q, ct).ConfigureAwait(false));
        api.MapGet("/files/{id}", (string id) => File(node, id)).Produces<FileDto>().Produces<ErrorDto>(404);
        api.MapPost("/files/{id}/ticket", (string id) => Ticket(access, id)).Produces<TicketDto>().Produces<ErrorDto>(400);
        api.MapGet("/files/{id}/content", (string id, HttpContext context) => FileContent.SendAsync(node, id, context))
            .Produces(200, contentType: "application/octet-stream").Produces<ErrorDto>(404).Produces<ErrorDto>(503);
        api.MapPost("/upload", (HttpContext context, string? name, string? mode, int? replicas) => Uploads.ReceiveAsync(node, context, name, mode, replicas))
            .Accepts<Stream>("application/octet-stream").Produces<UploadDto>().Produces<ErrorDto>(400).Produces<ErrorDto>(411).Produces<ErrorDto>(507);
        api.MapPost("/share", async (ShareRequest request, CancellationToken ct) => await ShareAsync(node, request, ct).ConfigureAwait(false))
            .Produces<IReadOnlyList<SharedFileDto>>().Produces<ErrorDto>(400);
        api.MapPost("/put", async (PutRequest request, CancellationToken ct) => await PutAsync(node, request, ct).ConfigureAwait(false))
            .Produces<IReadOnlyList<PutFileDto>>().Produces<ErrorDto>(400);
        api.MapGet("/put", () => PutsUnderWay(node));
        api.MapGet("/put/files", () => PutHealth(node));
        api.MapDelete("/files/{id}", (string id) => Unshare(node, id)).Produces(204).Produces<ErrorDto>(400).Produces<ErrorDto>(404);
        api.MapGet("/downloads", () => Transfers(node));
        api.MapPost("/downloads", (GetRequest request) => StartDownload(node, request)).Produces<TransferDto>().Produces<ErrorDto>(400).Produces<ErrorDto>(409);
        api.MapGet("/downloads/{id}", (string id) => WithTransfer(node, id, t => Results.Ok(ToDto(t)))).Produces<TransferDto>().Produces<ErrorDto>(404);
        api.MapGet("/downloads/{id}/trace", (string id) => WithTransfer(node, id, t => Results.Ok(Trace(t)))).Produces<IReadOnlyList<TraceEntryDto>>().Produces<ErrorDto>(404);
        api.MapPost("/downloads/{id}/pause", async (string id) =>
            FileId.TryParse(id, out var fileId) && await node.Transfers.PauseAsync(fileId).ConfigureAwait(false) is { } paused
                ? Results.Ok(ToDto(paused))
                : Results.NotFound(new ErrorDto($"no download {id}"))).Produces<TransferDto>().Produces<ErrorDto>(404);
        api.MapPost("/downloads/{id}/resume", (string id) =>
            FileId.TryParse(id, out var fileId) && node.Transfers.Resume(fileId) is { } resumed
                ? Results.Ok(ToDto(resumed))
                : Results.NotFound(new ErrorDto($"no download {id}"))).Produces<TransferDto>().Produces<ErrorDto>(404);
        api.MapDelete("/downloads/{id}", async (string id) =>
            FileId.TryParse(id, out var fileId) && await node.Transfers.CancelAsync(fileId).ConfigureAwait(false)
                ? Results.NoContent()
                : Results.NotFound(new ErrorDto($"no download {id}"))).Produces(204).Produces<ErrorDto>(404);
    }

    /// <summary>What is reachable without the token: signing in, and a download whose link carries a ticket.</summary>
    private static bool IsOpen(HttpContext context, ApiAccess access)
    {
        var path = context.Request.Path.Value ?? "";
        if (path == "/api/login") return true;
        const string prefix = "/api/files/";
        if (!HttpMethods.IsGet(context.Request.Method) || !path.StartsWith(prefix, StringComparison.Ordinal) || !path.EndsWith("/content", StringComparison.Ordinal)) return false;
        return FileId.TryParse(path.AsSpan()[prefix.Length..^"/content".Length], out var id) && access.IsValidTicket(id, context.Request.Query["ticket"]);
    }

    public static void ConfigureOpenApi(OpenApiOptions options) =>
        options.AddDocumentTransformer((document, _, _) =>
        {
            document.Info = new OpenApiInfo
            {
                Title = "Shoal node API",
                Version = typeof(ShoalNode).Assembly.GetName().Version?.ToString(3) ?? "0.0.0",
                Description = "Everything the shoal CLI and the web UI do. Send 'Authorization: Bearer TOKEN' (the token is in api.json in the node's home, or from POST /api/login).",
            };
            return Task.CompletedTask;
        });

    private static IResult Login(ApiAccess access, HttpContext context, LoginRequest request) =>
        access.Login(context.Connection.RemoteIpAddress, request.Password, out var token) switch
        {
            ApiAccess.LoginResult.Ok => Results.Ok(new LoginDto(token!)),
            ApiAccess.LoginResult.NoPassword => Results.BadRequest(new ErrorDto("this node has no password; use the token in api.json")),
            ApiAccess.LoginResult.TooManyAttempts => Results.Json(new ErrorDto("too many wrong passwords; wait a minute"), ApiJson.Default.ErrorDto, statusCode: StatusCodes.Status429TooManyRequests),
            _ => Results.Json(new ErrorDto("wrong password"), ApiJson.Default.ErrorDto, statusCode: StatusCodes.Status401Unauthorized),
        };

    internal static IReadOnlyList<TransferDto> Transfers(ShoalNode node) =>
        [.. node.Transfers.Transfers.OrderByDescending(t => t.StartedAt).Select(ToDto)];

    internal static IReadOnlyList<PutProgressDto> PutsUnderWay(ShoalNode node) => [.. node.Put.Active.Select(p => ToDto(node, p))];

    /// <summary>Every live put file with the copies asked for and the copies there are: the replication health.</summary>
    internal static IReadOnlyList<PutHealthDto> PutHealth(ShoalNode node) =>
    [
        .. node.Put.Files.Where(f => !f.Deleted)
            .Select(f => new PutHealthDto(f.Id.ToString(), f.Name, f.Size, f.Replicas, node.Put.FewestStoredCopies(f.Id) ?? 0))
            .OrderBy(f => f.Name, StringComparer.OrdinalIgnoreCase).ThenBy(f => f.Id, StringComparer.Ordinal),
    ];

    private static IResult File(ShoalNode node, string id)
    {
        if (!FileId.TryParse(id, out var fileId)) return Results.BadRequest(new ErrorDto($"'{id}' is not a file id"));
        return Files(node).FirstOrDefault(f => f.Id == id) is { } file
            ? Results.Ok(file)
            : Results.NotFound(new ErrorDto($"no online node is known to hold {fileId.ShortForm}"));
    }

    private static IResult Ticket(ApiAccess access, string id)
    {
        if (!FileId.TryParse(id, out var fileId)) return Results.BadRequest(new ErrorDto($"'{id}' is not a file id"));
        var (ticket, expires) = access.IssueTicket(fileId);
        return Results.Ok(new TicketDto($"/api/files/{fileId}/content?ticket={Uri.EscapeDataString(ticket)}", expires));
    }

    private static SettingsDto Settings(ShoalNode node, ApiAccess access)
    {
        var config = node.Config;
        return new SettingsDto(
            config.Name, node.Folder.Root, node.DownloadDirectory, node.UploadLimit.BytesPerSecond, node.DownloadLimit.BytesPerSecond,
            node.ApiUrl.ToString().TrimEnd('/'), Endpoints.Format(node.ListenEndPoint), config.Peers, config.Trackers, access.PasswordSet);
    }

    private static IResult UpdateSettings(ShoalNode node, ApiAccess access, SettingsRequest request)
    {
        // The folder the node already syncs is no change, even if config.json names none (the default).
        var folder = request.Folder is { } path && Path.IsPathFullyQualified(path) && Path.GetFullPath(path) == node.Folder.Root ? null : request.Folder;
        var changes = new (string Key, string? Value)[]
        {
            ("name", request.Name), ("uploadLimit", Number(request.UploadLimit)), ("downloadLimit", Number(request.DownloadLimit)),
            ("folder", folder), ("downloads", request.Downloads),
        };
        var config = node.Config;
        foreach (var (key, value) in changes)
        {
            if (value is not null && !ConfigKeys.TrySet(config, key, value, out config, out var error)) return Results.BadRequest(new ErrorDto(error));
        }

        var restart = node.UpdateConfig(config);
        return Results.Ok(new SettingsChangeDto(Settings(node, access), restart));
    }

    private static string? Number(long? value) => value?.ToString(System.Globalization.CultureInfo.InvariantCulture);

    internal static StatusDto Status(ShoalNode node)
    {
        var online = node.Connections.Connections.Count(c => c.IsOpen);
        return new StatusDto(
            node.DeviceId.ToString(),
            node.Name,
            node.Membership.Network.ToString(),
            [Endpoints.Format(node.ListenEndPoint)],
            ShoalNode.AdvertisedAddresses(node.ListenEndPoint),
            node.ApiUrl.ToString().TrimEnd('/'),
            online,
            node.Catalog.ListPeers().Count,
            node.Transfers.Transfers.Count(t => t.State is TransferState.Waiting or TransferState.Downloading),
            node.UploadedBytes,
            node.DownloadedBytes,
            typeof(ShoalNode).Assembly.GetName().Version?.ToString(3) ?? "0.0.0",
            node.Home.Root,
            Folder(node, 10),
            [.. node.Trackers.States.Select(t => new TrackerDto(t.Url, t.Online, t.LastAnnounce, t.LastError, t.Peers, t.Reachable, t.PublicAddress))],
            node.Connections.BusyRefusals,
            SeenAs(node));
    }

    /// <summary>This node's addresses (hosts only: an outgoing link's port is a passing one) as its connected peers say they see them.</summary>
    private static List<string> SeenAs(ShoalNode node) =>
        [.. node.Connections.Connections
            .Select(c => c.SeenAs is { } seen && IPEndPoint.TryParse(seen, out var endPoint) ? endPoint.Address.ToString() : null)
            .OfType<string>()
            .Distinct()
            .Order(StringComparer.Ordinal)];

    internal static FolderDto Folder(ShoalNode node, int events)
    {
        var status = node.Folder.Status();
        var recent = node.Folder.RecentEvents(Math.Clamp(events, 0, 10_000))
            .Select(e => new FolderEventDto(e.Time, e.Path, e.Kind.ToString().ToLowerInvariant(), e.Device.ToString(), e.DeviceName, e.Detail))
            .ToList();
        return new FolderDto(status.Path, status.State, status.NeedFiles, status.Files, status.Bytes, status.Directories, status.Conflicts, status.LastScan, status.Problem, recent);
    }

    internal static IReadOnlyList<PeerDto> Peers(ShoalNode node)
    {
        var live = node.Connections.Connections.Where(c => c.IsOpen).ToDictionary(c => c.RemoteId);
        var result = new List<PeerDto>();
        foreach (var record in node.Catalog.ListPeers())
        {
            live.TryGetValue(record.Id, out var connection);
            var (up, down) = connection is null ? (0, 0) : node.Rates.RatesOf(connection);
            result.Add(new PeerDto(
                record.Id.ToString(),
                connection?.RemoteName ?? record.Name,
                connection is not null,
                connection is null ? record.Addresses : [.. ConnectionManager.AddressesOf(connection)],
                record.LastSeen, // for an online peer: when it connected (the snapshot stays the same while nothing changes)
                connection?.RoundTripTime?.TotalMilliseconds,
                connection is null ? null : connection.IsClient ? "out" : "in",
                connection?.ChunkBytesSent ?? 0,
                connection?.ChunkBytesReceived ?? 0,
                up,
                down,
                node.Revocations.IsRevoked(record.Id),
                connection?.Kind.ToString().ToLowerInvariant()));
        }

        return [.. result.OrderByDescending(p => p.Online).ThenBy(p => p.Name, StringComparer.OrdinalIgnoreCase)];
    }

    /// <summary>
    /// Every file known in the network (whose name contains <paramref name="query"/>, if given): what this node and its
    /// peers hold, and what the trackers know of. Replicas is the smallest number of online nodes (this one included)
    /// that hold any one chunk: the file survives losing one fewer node than that.
    /// </summary>
    private static async Task<IReadOnlyList<FileDto>> FilesAsync(ShoalNode node, string? query, CancellationToken cancellationToken)
    {
        var known = Files(node).Where(f => query is null || f.Name.Contains(query, StringComparison.OrdinalIgnoreCase)).ToList();
        if (node.Trackers.IsEmpty) return known;
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(TimeSpan.FromSeconds(5));
        var tracked = await node.Trackers.SearchAsync(query, TrackerLimits.MaxResults, timeout.Token).ConfigureAwait(false);
        var ids = known.Select(f => f.Id).ToHashSet();
        foreach (var file in tracked)
        {
            // Files no connected peer told of: the tracker's view (holders anywhere in the network) is all there is.
            if (!ids.Add(file.Id) || !FileId.TryParse(file.Id, out var id)) continue;
            var name = SafeFileName.Sanitize(file.Name, id.ShortForm);
            known.Add(new FileDto(new ShoalLink(id, name).ToString(), file.Id, name, file.Size, file.Replicas, "none", file.Holders));
        }

        return [.. known.OrderBy(f => f.Name, StringComparer.OrdinalIgnoreCase)];
    }

    private static IReadOnlyList<FileDto> Files(ShoalNode node)
    {
        var ids = node.Library.LocalFiles.Select(f => f.Id)
            .Concat(node.Put.Files.Where(f => !f.Deleted).Select(f => f.Id))
            .Concat(node.Availability.AllFiles().Select(f => f.Id))
            .Concat(node.Transfers.Transfers.Select(t => t.Id))
            .Distinct();
        var result = new List<FileDto>();
        foreach (var id in ids)
        {
            var local = node.Library.GetLocal(id);
            var transfer = node.Transfers.Get(id);
            var holders = node.Availability.HoldersOf(id).Where(h => node.Connections.Get(h.Peer) is { IsOpen: true }).ToList();
            var name = local?.Name ?? holders.Select(h => h.File.Name).FirstOrDefault() ?? transfer?.Name ?? id.ShortForm;
            var size = local?.Size ?? holders.Select(h => h.File.Size).FirstOrDefault(transfer?.Manifest?.Size ?? 0);
            var chunkCount = local?.Manifest.ChunkCount ?? holders.Select(h => h.File.ChunkCount).FirstOrDefault(transfer?.Manifest?.ChunkCount ?? 0);
            var localVerified = local is not null ? null : transfer?.Partial?.Verified;
            var localState = local is not null ? "complete" : localVerified is { IsEmpty: false } ? "partial" : "none";
            var replicas = chunkCount == 0
                ? holders.Count + (local is not null ? 1 : 0)
                : MinHolders(chunkCount, holders.Select(h => h.File.Snapshot()), local is not null ? null : localVerified ?? new Bitfield(chunkCount));
            if (local is null && node.Put.StoredCopies(id) is { } copies && node.Put.Files.FirstOrDefault(f => f.Id == id) is { } put)
            {
                // A put file: counted from the stores (this node's included) and whoever else announced it.
                (name, size, replicas) = (put.Name, put.Size, copies.Length == 0 ? 0 : copies.Min());
                var held = node.Library.GetPartial(id)?.VerifiedSnapshot();
                if (transfer is null && held is not null) localState = held.IsComplete ? "complete" : held.IsEmpty ? "none" : "partial";
            }

            result.Add(new FileDto(new ShoalLink(id, name).ToString(), id.ToString(), name, size, replicas, localState, holders.Count));
        }

        return [.. result.OrderBy(f => f.Name, StringComparer.OrdinalIgnoreCase)];
    }

    private static IResult Revoke(ShoalNode node, RevokeRequest request)
    {
        if (!DeviceId.TryParse(request.Device, out var device, out var error)) return Results.BadRequest(new ErrorDto(error));
        if (device == node.DeviceId) return Results.BadRequest(new ErrorDto("a node cannot revoke itself; revoke it from another member"));
        node.Revoke([device]);
        return Results.Ok(new RevokeRequest(device.ToString()));
    }

    private static IResult SetLimits(ShoalNode node, LimitsDto request)
    {
        if (request.Upload < 0 || request.Download < 0) return Results.BadRequest(new ErrorDto("limits are bytes per second: 0 (unlimited) or more"));
        if (request.Upload is { } up) node.UploadLimit.BytesPerSecond = up;
        if (request.Download is { } down) node.DownloadLimit.BytesPerSecond = down;
        return Results.Ok(new LimitsDto(node.UploadLimit.BytesPerSecond, node.DownloadLimit.BytesPerSecond));
    }

    /// <summary>The fewest holders of any one chunk; <paramref name="localChunks"/> null means this node has all of them.</summary>
    private static int MinHolders(int chunkCount, IEnumerable<Bitfield> remote, Bitfield? localChunks)
    {
        var counts = new int[chunkCount];
        foreach (var field in remote.Append(localChunks ?? Bitfield.Full(chunkCount)))
        {
            if (field.Length != chunkCount) continue;
            foreach (var i in field.SetIndices()) counts[i]++;
        }

        return counts.Min();
    }

    private static async Task<IResult> ShareAsync(ShoalNode node, ShareRequest request, CancellationToken cancellationToken)
    {
        if (request.Paths is not { Count: > 0 }) return Results.BadRequest(new ErrorDto("no paths given"));
        try
        {
            var (files, skipped) = await node.ShareAsync(request.Paths, cancellationToken).ConfigureAwait(false);
            IReadOnlyList<SharedFileDto> shared = [.. files.Select(f => new SharedFileDto(new ShoalLink(f.Id, f.Name).ToString(), f.Id.ToString(), f.Name, f.Size, f.Path))];
            if (skipped.Count == 0) return Results.Ok(shared);
            var error = $"could not read {skipped.Count} of {skipped.Count + shared.Count} files, skipped: " +
                string.Join("; ", skipped.Take(5).Select(s => $"{s.Path} ({s.Error})")) + (skipped.Count > 5 ? "; ..." : "") +
                (shared.Count > 0 ? $"; the other {shared.Count} are shared" : "");
            return Results.UnprocessableEntity(new ShareErrorDto(error, shared, [.. skipped.Select(s => new SkippedFileDto(s.Path, s.Error))]));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return Results.BadRequest(new ErrorDto(e.Message));
        }
    }

    private static IResult Unshare(ShoalNode node, string id)
    {
        if (!ShoalLink.TryParse(id.StartsWith(ShoalLink.Scheme, StringComparison.Ordinal) ? id : ShoalLink.Scheme + id, out var link, out var error))
        {
            return Results.BadRequest(new ErrorDto(error));
        }

        // A put file is removed from the whole network; a shared one only stops being offered here.
        return node.Put.Remove(link.Id) || node.Library.Remove(link.Id) ? Results.NoContent() : Results.NotFound(new ErrorDto($"this node does not share {link.Id}"));
    }

    private static PutProgressDto ToDto(ShoalNode node, PutProgress put)
    {
        var seconds = (node.Time.GetUtcNow() - put.Started).TotalSeconds;
        return new PutProgressDto(put.Id.ToString(), put.Name, put.Size, put.PlacedBytes, seconds > 0 ? (long)(put.PlacedBytes / seconds) : 0);
    }

    private static async Task<IResult> PutAsync(ShoalNode node, PutRequest request, CancellationToken cancellationToken)
    {
        if (request.Paths is not { Count: > 0 }) return Results.BadRequest(new ErrorDto("no paths given"));
        var replicas = request.Replicas ?? PutOptions.DefaultReplicas;
        if (replicas is < 1 or > PutRecord.MaxReplicas) return Results.BadRequest(new ErrorDto($"replicas must be 1 to {PutRecord.MaxReplicas}"));
        try
        {
            var results = new List<PutFileDto>();
            var files = Library.ExpandPaths(request.Paths).ToList();
            using var hashing = node.Indexing.Start("put", [.. request.Paths.Select(Path.GetFullPath)], files);
            foreach (var path in files)
            {
                var put = await node.Put.PutAsync(path, replicas, hashing.Next(path), cancellationToken).ConfigureAwait(false);
                results.Add(new PutFileDto(new ShoalLink(put.Id, put.Name).ToString(), put.Id.ToString(), put.Name, put.Size, put.Copies, put.Replicas, put.ReachableNodes, [.. put.NoRoom]));
            }

            return Results.Ok((IReadOnlyList<PutFileDto>)results);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return Results.BadRequest(new ErrorDto(e.Message));
        }
    }

    private static IResult StartDownload(ShoalNode node, GetRequest request)
    {
        if (!ShoalLink.TryParse(request.Link, out var link, out var error)) return Results.BadRequest(new ErrorDto(error));
        if (node.Library.GetLocal(link.Id) is null && node.Put.ReachableCopies(link.Id) is { } copies && copies.Count(c => c == 0) is var missing and > 0)
        {
            // Waiting would not help until a node comes back: say so at once.
            return Results.Conflict(new ErrorDto($"unavailable: {missing} of {copies.Length} chunks are on no online node"));
        }

        var directory = string.IsNullOrWhiteSpace(request.Directory) ? node.DownloadDirectory : request.Directory;
        try
        {
            return Results.Ok(ToDto(node.Transfers.Start(link, directory)));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException)
        {
            return Results.BadRequest(new ErrorDto($"cannot download into {directory}: {e.Message}"));
        }
    }

    private static IResult WithTransfer(ShoalNode node, string id, Func<Transfer, IResult> respond) =>
        FileId.TryParse(id, out var fileId) && node.Transfers.Get(fileId) is { } transfer
            ? respond(transfer)
            : Results.NotFound(new ErrorDto($"no download {id}"));

    private static IReadOnlyList<TraceEntryDto> Trace(Transfer transfer) =>
        [.. transfer.RequestTrace().Select(e => new TraceEntryDto(e.Peer.ToString(), e.Chunk))];

    public static TransferDto ToDto(Transfer transfer)
    {
        var progress = transfer.Progress;
        var size = transfer.Manifest?.Size ?? 0;
        var verified = transfer.State == TransferState.Completed ? size : progress?.VerifiedBytes ?? transfer.StoppedAtBytes;
        var rate = progress?.BytesPerSecond ?? 0;
        double? eta = rate > 0 ? (size - verified) / rate : null;
        return new TransferDto(
            transfer.Id.ToString(),
            new ShoalLink(transfer.Id, transfer.Name).ToString(),
            transfer.Name,
            size,
            transfer.State.ToString().ToLowerInvariant(),
            verified,
            transfer.State == TransferState.Completed ? transfer.Manifest?.ChunkCount ?? 0 : progress?.VerifiedChunks ?? 0,
            transfer.Manifest?.ChunkCount ?? 0,
            rate,
            eta,
            progress?.ActiveSources ?? 0,
            progress?.BytesReceived ?? 0,
            transfer.Error,
            transfer.FinalPath,
            transfer.TargetDirectory,
            progress is null ? [] : [.. progress.Peers.Select(p => new TransferPeerDto(p.Id.ToString(), p.Name, p.BytesReceived, p.BytesPerSecond))]);
    }
}
