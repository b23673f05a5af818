using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Shoal.Net;
using Shoal.Net.Tracking;

namespace Shoal.Tracker.Tests;

/// <summary>A node as a tracker sees it: its own device identity, its network's tracker key, and signed requests.</summary>
public sealed class TestNode : IDisposable
{
    private readonly TempDirectory _home = new();
    private readonly NodeIdentity _identity;
    private readonly NetworkTrackerKey _networkKey;
    private readonly TrackerRequestSigner _signer;

    public TestNode(NetworkMembership network, TimeProvider time)
    {
        _identity = NodeIdentity.LoadOrCreate(_home.Combine("identity"));
        _networkKey = NetworkTrackerKey.Derive(network);
        _signer = new TrackerRequestSigner(_identity.Certificate, _networkKey, time);
    }

    public string Device => _identity.DeviceId.Value.ToHex();

    /// <summary>This node as the store knows it, to look at the store directly.</summary>
    public TestDevice InStore => new(_networkKey.Tag, _identity.DeviceId);

    public SignedRequest Sign(Uri tracker, string path, byte[] body)
    {
        var uri = new Uri(tracker, path);
        return new SignedRequest(uri, _signer.Sign("POST", uri.PathAndQuery, uri.Authority, body), body);
    }

    public SignedRequest Sign<T>(Uri tracker, string path, T request, JsonTypeInfo<T> type) =>
        Sign(tracker, path, JsonSerializer.SerializeToUtf8Bytes(request, type));

    public SignedRequest Sign(Uri tracker, string path, string json) => Sign(tracker, path, Encoding.UTF8.GetBytes(json));

    public void Dispose()
    {
        _signer.Dispose();
        _networkKey.Dispose();
        _identity.Dispose();
        _home.Dispose();
    }
}

/// <summary>A request as signed; sent as often as a test likes, or changed after signing.</summary>
public sealed record SignedRequest(Uri Uri, IReadOnlyList<KeyValuePair<string, string>> Headers, byte[] Body)
{
    public SignedRequest Without(string header) => this with { Headers = [.. Headers.Where(h => h.Key != header)] };

    public async Task<Answer> SendAsync(HttpClient http, bool chunked = false)
    {
        using var message = new HttpRequestMessage(HttpMethod.Post, Uri) { Content = new ByteArrayContent(Body) };
        message.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        foreach (var (name, value) in Headers) message.Headers.TryAddWithoutValidation(name, value);

        // Asking first lets the tracker refuse an oversized body before it is sent.
        message.Headers.ExpectContinue = true;
        if (chunked)
        {
            message.Headers.TransferEncodingChunked = true;
            message.Content.Headers.ContentLength = null;
        }

        using var response = await http.SendAsync(message);
        return new Answer(response.StatusCode, await response.Content.ReadAsStringAsync());
    }
}

public sealed record Answer(HttpStatusCode Status, string Body)
{
    public string Error => JsonSerializer.Deserialize(Body, TrackerJson.Default.TrackerError)?.Error ?? "";

    public T Read<T>(JsonTypeInfo<T> type)
    {
        Assert.True(Status == HttpStatusCode.OK, $"{(int)Status}: {Body}");
        return JsonSerializer.Deserialize(Body, type)!;
    }
}
