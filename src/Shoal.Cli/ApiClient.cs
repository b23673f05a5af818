using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Shoal.Node.Api;
using Shoal.Node.Home;

namespace Shoal.Cli;

/// <summary>The node of this home is not running (exit code 3).</summary>
public sealed class NodeNotRunningException(string message) : Exception(message);

/// <summary>The node answered with an error (exit code 1 with its message); <see cref="Status"/> is the HTTP status.</summary>
public sealed class ApiException(string message, System.Net.HttpStatusCode? status = null) : Exception(message)
{
    public System.Net.HttpStatusCode? Status { get; } = status;
}

/// <summary>Talks to the running node of a home, found through the api.json the node writes there.</summary>
public sealed class ApiClient : IDisposable
{
    private readonly HttpClient _http;

    private ApiClient(HttpClient http) => _http = http;

    public static ApiClient Connect(NodeHome home)
    {
        RuntimeInfo? info = null;
        try
        {
            info = JsonSerializer.Deserialize(File.ReadAllText(home.RuntimePath), ApiJson.Default.RuntimeInfo);
        }
        catch (Exception e) when (e is IOException or JsonException or UnauthorizedAccessException)
        {
            // Handled below: no usable runtime file means no running node.
        }

        if (info is null) throw NotRunning(home);
        var http = new HttpClient { BaseAddress = new Uri(info.Url + "/"), Timeout = Timeout.InfiniteTimeSpan };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", info.Token);
        return new ApiClient(http);
    }

    public static NodeNotRunningException NotRunning(NodeHome home) =>
        new($"the node of {home.Root} is not running; start it with: {StartCommand(home)}");

    /// <summary>The command that starts the node of <paramref name="home"/>.</summary>
    public static string StartCommand(NodeHome home) =>
        home.Root == NodeHome.Resolve(null).Root ? "shoal up" : $"shoal up --home '{home.Root}'";

    public Task<T> GetAsync<T>(string path, JsonTypeInfo<T> type, NodeHome home, CancellationToken cancellationToken) =>
        SendAsync(() => _http.GetAsync(path, cancellationToken), type, home, cancellationToken);

    public Task<T> PostAsync<TBody, T>(string path, TBody body, JsonTypeInfo<TBody> bodyType, JsonTypeInfo<T> type, NodeHome home, CancellationToken cancellationToken) =>
        SendAsync(() => _http.PostAsJsonAsync(path, body, bodyType, cancellationToken), type, home, cancellationToken);

    public Task<T> PutAsync<TBody, T>(string path, TBody body, JsonTypeInfo<TBody> bodyType, JsonTypeInfo<T> type, NodeHome home, CancellationToken cancellationToken) =>
        SendAsync(() => _http.PutAsJsonAsync(path, body, bodyType, cancellationToken), type, home, cancellationToken);

    /// <summary>A POST without a body: an action on a resource (pause, resume).</summary>
    public Task<T> PostAsync<T>(string path, JsonTypeInfo<T> type, NodeHome home, CancellationToken cancellationToken) =>
        SendAsync(() => _http.PostAsync(path, null, cancellationToken), type, home, cancellationToken);

    public async Task DeleteAsync(string path, NodeHome home, CancellationToken cancellationToken)
    {
        using var response = await Call(() => _http.DeleteAsync(path, cancellationToken), home).ConfigureAwait(false);
        await EnsureSuccessAsync(response, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>A GET that stays open (the event stream): its body, to read until the node ends it. Disposing the stream closes the request.</summary>
    public async Task<Stream> OpenStreamAsync(string path, NodeHome home, CancellationToken cancellationToken)
    {
        var response = await Call(() => _http.GetAsync(path, HttpCompletionOption.ResponseHeadersRead, cancellationToken), home).ConfigureAwait(false);
        try
        {
            await EnsureSuccessAsync(response, cancellationToken).ConfigureAwait(false);
            return await response.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            response.Dispose();
            throw;
        }
    }

    private async Task<T> SendAsync<T>(Func<Task<HttpResponseMessage>> send, JsonTypeInfo<T> type, NodeHome home, CancellationToken cancellationToken)
    {
        using var response = await Call(send, home).ConfigureAwait(false);
        await EnsureSuccessAsync(response, cancellationToken).ConfigureAwait(false);
        return await response.Content.ReadFromJsonAsync(type, cancellationToken).ConfigureAwait(false)
            ?? throw new ApiException("the node sent an empty answer");
    }

    private static async Task<HttpResponseMessage> Call(Func<Task<HttpResponseMessage>> send, NodeHome home)
    {
        try
        {
            return await send().ConfigureAwait(false);
        }
        catch (HttpRequestException e) when (e.InnerException is SocketException || e.HttpRequestError == HttpRequestError.ConnectionError)
        {
            // A node killed without cleaning up leaves its runtime file behind; it is still not running.
            throw NotRunning(home);
        }
    }

    private static async Task EnsureSuccessAsync(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        if (response.IsSuccessStatusCode) return;
        string message;
        try
        {
            message = (await response.Content.ReadFromJsonAsync(ApiJson.Default.ErrorDto, cancellationToken).ConfigureAwait(false))?.Error
                ?? response.ReasonPhrase ?? "error";
        }
        catch (JsonException)
        {
            message = $"the node answered {(int)response.StatusCode} {response.ReasonPhrase}";
        }

        throw new ApiException(message, response.StatusCode);
    }

    public void Dispose() => _http.Dispose();

    /// <summary>One GET against the node of the command's home: the whole of most read-only commands.</summary>
    public static async Task<T> FetchAsync<T>(Arguments args, string path, JsonTypeInfo<T> type, CancellationToken cancellationToken)
    {
        var home = CommandLine.HomeOf(args);
        using var client = Connect(home);
        return await client.GetAsync(path, type, home, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>With --json, prints the value as the one JSON document on stdout and returns true.</summary>
    public static bool PrintJsonIfAsked<T>(Arguments args, T value, JsonTypeInfo<T> type)
    {
        if (!args.Has("--json")) return false;
        Console.Out.WriteLine(JsonSerializer.Serialize(value, type));
        return true;
    }
}
