using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Shoal.Core;
using Shoal.Node.Replication;
using Shoal.Protocol;
using Shoal.Storage;

namespace Shoal.Node.Api;

/// <summary>
/// Files from the browser: streamed to HOME/uploads under a temporary name (never held in memory, never a partial
/// file under its final name), then shared from there or put into the network.
/// </summary>
internal static class Uploads
{
    /// <summary>Room left free on the disk after an upload, so a node never fills its own disk to the last byte.</summary>
    private const long Headroom = 64L << 20;

    public static async Task<IResult> ReceiveAsync(ShoalNode node, HttpContext context, string? name, string? mode, int? replicas)
    {
        mode ??= "share";
        if (mode is not ("share" or "put")) return Results.BadRequest(new ErrorDto("mode is share or put"));
        var copies = replicas ?? PutOptions.DefaultReplicas;
        if (copies is < 1 or > PutRecord.MaxReplicas) return Results.BadRequest(new ErrorDto($"replicas must be 1 to {PutRecord.MaxReplicas}"));
        if (context.Request.ContentLength is not { } length) return Results.Json(new ErrorDto("send the file's length (Content-Length)"), ApiJson.Default.ErrorDto, statusCode: StatusCodes.Status411LengthRequired);

        // Names from a browser are as untrusted as names from peers: never a path, never a device name.
        var safeName = SafeFileName.Sanitize(name, "upload");
        var directory = Path.Combine(node.Home.Root, "uploads");
        Directory.CreateDirectory(directory);
        var free = new DriveInfo(directory).AvailableFreeSpace;
        if (length + Headroom > free)
        {
            return Results.Json(
                new ErrorDto($"not enough space for {ByteSize.Format(length)}: {ByteSize.Format(Math.Max(0, free - Headroom))} free on the node's disk"),
                ApiJson.Default.ErrorDto,
                statusCode: StatusCodes.Status507InsufficientStorage);
        }

        // The length was checked against the disk, not against a fixed cap: any file that fits may come.
        if (context.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } limit) limit.MaxRequestBodySize = length;
        var temporary = Path.Combine(directory, $".{Guid.NewGuid():N}.upload");
        string final;
        try
        {
            await using (var file = new FileStream(temporary, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 20, FileOptions.Asynchronous))
            {
                await context.Request.Body.CopyToAsync(file, 1 << 20, context.RequestAborted).ConfigureAwait(false);
                if (file.Length != length) return Results.BadRequest(new ErrorDto($"the upload ended after {file.Length} of {length} bytes"));
                file.Flush(flushToDisk: true);
            }

            final = MoveToFreeName(temporary, directory, safeName);
            DurableFileSystem.FlushDirectory(directory);
        }
        catch (IOException e)
        {
            return Results.Json(new ErrorDto($"the upload could not be stored: {e.Message}"), ApiJson.Default.ErrorDto, statusCode: StatusCodes.Status507InsufficientStorage);
        }
        finally
        {
            File.Delete(temporary);
        }

        if (mode == "put")
        {
            var put = await node.Put.PutAsync(final, copies, context.RequestAborted).ConfigureAwait(false);
            return Results.Ok(new UploadDto(new ShoalLink(put.Id, put.Name).ToString(), put.Id.ToString(), put.Name, put.Size, mode, final, put.Copies, put.Replicas));
        }

        var (files, skipped) = await node.ShareAsync([final], context.RequestAborted).ConfigureAwait(false);
        if (skipped.Count > 0) return Results.Json(new ErrorDto($"the upload was stored as {final} but could not be read back: {skipped[0].Error}"), ApiJson.Default.ErrorDto, statusCode: StatusCodes.Status500InternalServerError);
        var shared = files[0];
        return Results.Ok(new UploadDto(new ShoalLink(shared.Id, shared.Name).ToString(), shared.Id.ToString(), shared.Name, shared.Size, mode, final, null, null));
    }

    /// <summary>Renames without replacing: a second upload of "a.txt" becomes "a (1).txt".</summary>
    private static string MoveToFreeName(string temporary, string directory, string name)
    {
        var stem = Path.GetFileNameWithoutExtension(name);
        var extension = Path.GetExtension(name);
        for (var attempt = 0; ; attempt++)
        {
            var candidate = Path.Combine(directory, attempt == 0 ? name : $"{stem} ({attempt}){extension}");
            try
            {
                File.Move(temporary, candidate, overwrite: false);
                return candidate;
            }
            catch (IOException) when (File.Exists(candidate) && attempt < 10_000)
            {
                // Taken: try the next number.
            }
        }
    }
}
