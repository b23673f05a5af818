using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Microsoft.Net.Http.Headers;
using Shoal.Core;
using Shoal.Net.Connections;
using Shoal.Node.Transfers;
using Shoal.Protocol;

namespace Shoal.Node.Api;

/// <summary>
/// A file's bytes for the browser, in order. A file this node lacks is fetched into its download directory at the
/// same time (the node becomes a source too) with the chunks just ahead of the reader first; every chunk sent is
/// one the node verified against the manifest, so the browser never receives a byte that did not match the link.
/// </summary>
internal static class FileContent
{
    /// <summary>Chunks ahead of the reader that the swarm fetches first.</summary>
    private const int ReadAhead = 16;

    private static readonly TimeSpan ManifestWait = TimeSpan.FromSeconds(30);

    public static async Task SendAsync(ShoalNode node, string id, HttpContext context)
    {
        var response = context.Response;
        using var ending = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted, node.Stopping);
        var cancellationToken = ending.Token;
        if (!FileId.TryParse(id, out var fileId))
        {
            response.StatusCode = StatusCodes.Status400BadRequest;
            await response.WriteAsJsonAsync(new ErrorDto($"'{id}' is not a file id"), ApiJson.Default.ErrorDto, contentType: null, cancellationToken).ConfigureAwait(false);
            return;
        }

        var (manifest, name, transfer, error) = await OpenAsync(node, fileId, cancellationToken).ConfigureAwait(false);
        if (manifest is null)
        {
            response.StatusCode = error.Status;
            await response.WriteAsJsonAsync(new ErrorDto(error.Text), ApiJson.Default.ErrorDto, contentType: null, cancellationToken).ConfigureAwait(false);
            return;
        }

        response.ContentType = "application/octet-stream";
        response.ContentLength = manifest.Size;
        response.Headers.ContentDisposition = new ContentDispositionHeaderValue("attachment") { FileNameStar = name, FileName = AsciiName(name) }.ToString();
        response.Headers.CacheControl = "no-store";
        var buffer = ChunkBufferPool.Shared.Rent(manifest.MaxChunkLength);
        try
        {
            for (var index = 0; index < manifest.ChunkCount; index++)
            {
                transfer?.Prioritise(index, ReadAhead);
                var length = manifest[index].Length;
                await ReadVerifiedChunkAsync(node, fileId, transfer, index, buffer.AsMemory(0, length), cancellationToken).ConfigureAwait(false);
                await response.Body.WriteAsync(buffer.AsMemory(0, length), cancellationToken).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (node.Stopping.IsCancellationRequested)
        {
            context.Abort();
        }
        catch (IOException e) when (!cancellationToken.IsCancellationRequested)
        {
            // The headers are gone; the only honest way left to say "incomplete" is to cut the connection.
            node.LoggerFactory.CreateLogger("shoal.api").LogWarning("Sending {Name} to a browser stopped: {Error}", name, e.Message);
            context.Abort();
        }
        finally
        {
            transfer?.Prioritise(0, 0);
            ChunkBufferPool.Shared.Return(buffer);
        }
    }

    private static async Task<(Manifest? Manifest, string Name, Transfer? Transfer, (int Status, string Text) Error)> OpenAsync(
        ShoalNode node, FileId id, CancellationToken cancellationToken)
    {
        if (node.Library.GetLocal(id) is { } local) return (local.Manifest, local.Name, null, default);
        var transfer = node.Transfers.Get(id);
        if (transfer is null || !(transfer.IsRunning || transfer.State == TransferState.Completed))
        {
            var name = transfer?.Name ?? node.Availability.HoldersOf(id).Select(h => h.File.Name).FirstOrDefault() ?? node.Library.GetPartial(id)?.Name;
            if (name is null && transfer is null) return (null, "", null, (StatusCodes.Status404NotFound, $"no online node is known to hold {id.ShortForm}"));
            transfer = node.Transfers.Start(new ShoalLink(id, name), node.DownloadDirectory);
        }

        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(ManifestWait);
        try
        {
            while (transfer.Manifest is null)
            {
                var progressed = transfer.Progressed;
                if (!transfer.IsRunning) break;
                await progressed.WaitAsync(timeout.Token).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return (null, "", null, (StatusCodes.Status503ServiceUnavailable, "no node holding this file answered; the node keeps trying (see Transfers)"));
        }

        return transfer.Manifest is { } manifest
            ? (manifest, transfer.Name, transfer, default)
            : (null, "", null, (StatusCodes.Status503ServiceUnavailable, transfer.Error ?? $"the download {transfer.State.ToString().ToLowerInvariant()}"));
    }

    private static async Task ReadVerifiedChunkAsync(ShoalNode node, FileId id, Transfer? transfer, int index, Memory<byte> destination, CancellationToken cancellationToken)
    {
        while (true)
        {
            // Taken before looking, so a chunk verified in between still wakes this reader.
            var progressed = transfer?.Progressed;
            if (node.Library.GetLocal(id) is not null || node.Library.GetPartial(id)?.IsVerified(index) == true)
            {
                try
                {
                    await node.Library.ReadChunkAsync(id, index, destination, cancellationToken).ConfigureAwait(false);
                    return;
                }
                catch (ChunkServeException e) when (e.Code is ErrorCode.ChunkUnavailable or ErrorCode.NotFound && transfer is not null)
                {
                    // The download moved from its partial file to its final place between the look and the read.
                }
                catch (ObjectDisposedException) when (transfer is not null)
                {
                    // Same: the partial file closed as the download completed.
                }
                catch (ChunkServeException e)
                {
                    throw new IOException(e.Message, e);
                }
            }

            if (transfer is null || progressed is null) throw new IOException($"chunk {index} is no longer available here");
            if (!transfer.IsRunning && transfer.State != TransferState.Completed)
            {
                throw new IOException($"the download was {transfer.State.ToString().ToLowerInvariant()}{(transfer.Error is null ? "" : ": " + transfer.Error)}");
            }

            await progressed.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>For old clients that ignore filename*: the name with anything outside printable ASCII replaced.</summary>
    private static string AsciiName(string name) =>
        "\"" + new string([.. name.Select(c => c is >= ' ' and < (char)127 && c != '"' && c != '\\' ? c : '_')]) + "\"";
}
