using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;

namespace Shoal.Node.Api;

/// <summary>
/// Server-Sent Events for the web UI: one snapshot of each kind on connect, then a kind again only when it changed.
/// The node compares snapshots a few times a second, so the page never polls and a quiet node sends nothing but a
/// keep-alive comment.
/// </summary>
internal sealed class LiveFeed(ShoalNode node)
{
    private const int MaxFeeds = 32;
    private static readonly TimeSpan Interval = TimeSpan.FromMilliseconds(400);
    private static readonly TimeSpan KeepAlive = TimeSpan.FromSeconds(15);
    private int _open;

    /// <summary>Streams to one browser until it goes away.</summary>
    public async Task RunAsync(HttpContext context)
    {
        if (Interlocked.Increment(ref _open) > MaxFeeds)
        {
            Interlocked.Decrement(ref _open);
            context.Response.StatusCode = StatusCodes.Status503ServiceUnavailable;
            context.Response.Headers.RetryAfter = "10";
            await context.Response.WriteAsJsonAsync(new ErrorDto("too many live views open; close one and retry"), ApiJson.Default.ErrorDto).ConfigureAwait(false);
            return;
        }

        try
        {
            var response = context.Response;
            response.ContentType = "text/event-stream";
            response.Headers.CacheControl = "no-cache";
            context.Features.Get<IHttpResponseBodyFeature>()?.DisableBuffering();
            using var ending = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted, node.Stopping);
            var cancellationToken = ending.Token;
            var sent = new Dictionary<string, string>(StringComparer.Ordinal);
            var lastWrite = node.Time.GetTimestamp();
            using var timer = new PeriodicTimer(Interval, node.Time);
            do
            {
                var wrote = false;
                wrote |= await SendIfChangedAsync(response, sent, "status", NodeApi.Status(node), ApiJson.Default.StatusDto, cancellationToken).ConfigureAwait(false);
                wrote |= await SendIfChangedAsync(response, sent, "peers", NodeApi.Peers(node), ApiJson.Default.IReadOnlyListPeerDto, cancellationToken).ConfigureAwait(false);
                wrote |= await SendIfChangedAsync(response, sent, "transfers", NodeApi.Transfers(node), ApiJson.Default.IReadOnlyListTransferDto, cancellationToken).ConfigureAwait(false);
                wrote |= await SendIfChangedAsync(response, sent, "puts", NodeApi.PutsUnderWay(node), ApiJson.Default.IReadOnlyListPutProgressDto, cancellationToken).ConfigureAwait(false);
                wrote |= await SendIfChangedAsync(response, sent, "health", NodeApi.PutHealth(node), ApiJson.Default.IReadOnlyListPutHealthDto, cancellationToken).ConfigureAwait(false);
                wrote |= await SendIfChangedAsync(response, sent, "folder", NodeApi.Folder(node, 50), ApiJson.Default.FolderDto, cancellationToken).ConfigureAwait(false);
                wrote |= await SendIfChangedAsync(response, sent, "files", new FilesChangedDto(FilesVersion()), ApiJson.Default.FilesChangedDto, cancellationToken).ConfigureAwait(false);
                if (wrote)
                {
                    lastWrite = node.Time.GetTimestamp();
                }
                else if (node.Time.GetElapsedTime(lastWrite) >= KeepAlive)
                {
                    // A comment line: keeps proxies from closing an idle stream and finds a browser that went away.
                    await response.WriteAsync(": keep-alive\n\n", cancellationToken).ConfigureAwait(false);
                    lastWrite = node.Time.GetTimestamp();
                }

                await response.Body.FlushAsync(cancellationToken).ConfigureAwait(false);
            }
            while (await timer.WaitForNextTickAsync(cancellationToken).ConfigureAwait(false));
        }
        catch (OperationCanceledException)
        {
            // The browser closed the page.
        }
        finally
        {
            Interlocked.Decrement(ref _open);
        }
    }

    private static async Task<bool> SendIfChangedAsync<T>(HttpResponse response, Dictionary<string, string> sent, string kind, T value, JsonTypeInfo<T> type, CancellationToken cancellationToken)
    {
        var json = JsonSerializer.Serialize(value, type);
        if (sent.TryGetValue(kind, out var last) && last == json) return false;
        sent[kind] = json;
        await response.WriteAsync($"event: {kind}\ndata: {json}\n\n", cancellationToken).ConfigureAwait(false);
        return true;
    }

    /// <summary>
    /// Changes whenever the file list would: what this node holds or stores, what each peer offers and how much of it,
    /// which peers are online. Cheap to compute, so the list itself is built only when a page asks for it.
    /// </summary>
    private long FilesVersion()
    {
        // A sum of per-item hashes: independent of enumeration order, so nothing needs sorting.
        long version = 0;
        foreach (var file in node.Library.LocalFiles) version += file.Id.GetHashCode();
        foreach (var file in node.Put.Files) version += HashCode.Combine(file.Id, file.Deleted);
        foreach (var connection in node.Connections.Connections) version += HashCode.Combine(connection.RemoteId, connection.IsOpen);
        foreach (var file in node.Availability.AllFiles())
        {
            foreach (var (peer, held) in node.Availability.HoldersOf(file.Id)) version += HashCode.Combine(peer, file.Id, held.Snapshot().SetCount);
        }

        foreach (var transfer in node.Transfers.Transfers) version += HashCode.Combine(transfer.Id, transfer.State);
        return version;
    }
}
