using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Shoal.Node.Home;

namespace Shoal.Node.Api;

/// <summary>
/// <c>/api/config</c>: every setting <c>shoal config</c> shows and changes, one key at a time as text, validated by
/// <see cref="ConfigKeys"/>; and <c>/api/indexing</c>, how far the hashing of a share or put under way is.
/// </summary>
internal static class ConfigApi
{
    public static void Map(RouteGroupBuilder api, ShoalNode node)
    {
        api.MapGet("/config", () => Entries(node));
        api.MapGet("/config/{key}", (string key) =>
            ConfigKeys.Find(key) is { } found
                ? Results.Ok(new ConfigEntryDto(found.Name, found.Read(node.Config, node.Home), found.AppliesAtOnce))
                : Results.NotFound(new ErrorDto(ConfigKeys.UnknownKey(key)))).Produces<ConfigEntryDto>().Produces<ErrorDto>(404);
        api.MapPut("/config/{key}", (string key, ConfigValueRequest request) => Set(node, key, request))
            .Produces<ConfigChangeDto>().Produces<ErrorDto>(400).Produces<ErrorDto>(404);
        api.MapGet("/indexing", () => Indexing(node));
    }

    internal static IReadOnlyList<ConfigEntryDto> Entries(ShoalNode node) =>
        [.. ConfigKeys.All.Select(k => new ConfigEntryDto(k.Name, k.Read(node.Config, node.Home), k.AppliesAtOnce))];

    internal static IReadOnlyList<IndexingDto> Indexing(ShoalNode node) =>
        [.. node.Indexing.Active.Select(j => new IndexingDto(j.Kind, j.Paths, j.Current, j.File, j.Files, j.BytesDone, j.Bytes, j.BytesPerSecond))];

    private static IResult Set(ShoalNode node, string key, ConfigValueRequest request)
    {
        if (ConfigKeys.Find(key) is not { } found) return Results.NotFound(new ErrorDto(ConfigKeys.UnknownKey(key)));
        if (request?.Value is null) return Results.BadRequest(new ErrorDto($"{found.Name}: no value given"));
        var before = node.Config;
        if (!found.TrySet(before, request.Value, out var changed, out var error)) return Results.BadRequest(new ErrorDto(error));
        var value = found.Read(changed, node.Home);
        var wasChanged = value != found.Read(before, node.Home);
        var restart = node.UpdateConfig(changed);
        return Results.Ok(new ConfigChangeDto(found.Name, value, wasChanged, restart.Contains(found.Name, StringComparer.Ordinal)));
    }
}
