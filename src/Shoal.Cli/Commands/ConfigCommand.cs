using System.Net;
using System.Text.Json;
using Shoal.Node.Api;
using Shoal.Node.Home;

namespace Shoal.Cli.Commands;

/// <summary>
/// <c>shoal config [KEY [VALUE]]</c>: shows and changes config.json. With the node running the change goes through it, so
/// that it applies at once what it can; with the node stopped the file is written directly. <see cref="ConfigKeys"/>
/// validates either way.
/// </summary>
public static class ConfigCommand
{
    public static async Task<int> RunAsync(Arguments args, CancellationToken cancellationToken)
    {
        if (args.Positionals.Count > 2) throw new UsageException("give at most a KEY and a VALUE (quote a value with spaces; separate list items with commas)");
        var key = args.Positionals.Count == 0 ? null : ConfigKeys.Find(args.Positionals[0]) ?? throw new UsageException(ConfigKeys.UnknownKey(args.Positionals[0]));
        var home = CommandLine.HomeOf(args);
        if (!home.IsInitialised) throw new InvalidOperationException($"{home.Root} is not initialised; run 'shoal init' first");
        if (key is not null && args.Positionals.Count == 2) return await SetAsync(home, key, args.Positionals[1], args.Has("--json"), cancellationToken).ConfigureAwait(false);

        var entries = await ReadAsync(home, cancellationToken).ConfigureAwait(false);
        if (key is not null) entries = [.. entries.Where(e => e.Key == key)];
        if (args.Has("--json"))
        {
            WriteJson(entries);
        }
        else if (key is not null)
        {
            Console.Out.WriteLine(entries[0].Value);
        }
        else
        {
            foreach (var (entry, value) in entries) Console.Out.WriteLine($"{entry.Name} = {value}");
        }

        return ExitCodes.Success;
    }

    /// <summary>The running node's settings, or config.json's when it is not running.</summary>
    private static async Task<List<(ConfigKey Key, string Value)>> ReadAsync(NodeHome home, CancellationToken cancellationToken)
    {
        try
        {
            using var client = ApiClient.Connect(home);
            var entries = await client.GetAsync("api/config", ApiJson.Default.IReadOnlyListConfigEntryDto, home, cancellationToken).ConfigureAwait(false);
            return [.. entries.Select(e => (Key: ConfigKeys.Find(e.Key), e.Value)).Where(e => e.Key is not null).Select(e => (e.Key!, e.Value))];
        }
        catch (NodeNotRunningException)
        {
            var config = NodeConfig.Load(home);
            return [.. ConfigKeys.All.Select(k => (k, k.Read(config, home)))];
        }
    }

    private static async Task<int> SetAsync(NodeHome home, ConfigKey key, string value, bool json, CancellationToken cancellationToken)
    {
        // A relative directory means one under the current directory, which the node (started elsewhere) cannot know.
        if (key.Kind == ConfigValueKind.Directory && value.Trim().Length > 0) value = Path.GetFullPath(value.Trim());
        var config = NodeConfig.Load(home);
        if (!key.TrySet(config, value, out var changed, out var error)) throw new UsageException(error);

        string shown;
        string outcome;
        try
        {
            using var client = ApiClient.Connect(home);
            var result = await client.PutAsync(
                $"api/config/{key.Name}", new ConfigValueRequest(value), ApiJson.Default.ConfigValueRequest, ApiJson.Default.ConfigChangeDto, home, cancellationToken).ConfigureAwait(false);
            shown = result.Value;
            outcome = result.RestartRequired ? $"takes effect at the next start: {ApiClient.StartCommand(home)}" : result.Changed ? "applied" : "unchanged";
        }
        catch (ApiException e) when (e.Status is HttpStatusCode.BadRequest or HttpStatusCode.NotFound)
        {
            throw new UsageException(e.Message);
        }
        catch (NodeNotRunningException)
        {
            changed.Save(home);
            shown = key.Read(changed, home);
            outcome = shown == key.Read(config, home) ? "unchanged" : $"saved; takes effect at the next start: {ApiClient.StartCommand(home)}";
        }

        if (json) WriteJson([(key, shown)]);
        else Console.Out.WriteLine($"{key.Name} = {shown} ({outcome})");
        return ExitCodes.Success;
    }

    /// <summary>One object: every key with its value as its JSON type (numbers, booleans, arrays, strings).</summary>
    private static void WriteJson(IEnumerable<(ConfigKey Key, string Value)> entries)
    {
        var buffer = new System.Buffers.ArrayBufferWriter<byte>();
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartObject();
            foreach (var (key, value) in entries)
            {
                writer.WritePropertyName(key.Name);
                key.WriteJson(writer, value);
            }

            writer.WriteEndObject();
        }

        Console.Out.WriteLine(System.Text.Encoding.UTF8.GetString(buffer.WrittenSpan));
    }
}
