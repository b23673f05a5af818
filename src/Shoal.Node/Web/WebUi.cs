using System.Collections.Frozen;
using System.Net;
using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Shoal.Node.Api;

namespace Shoal.Node.Web;

/// <summary>
/// The browser UI: static files embedded in this assembly (no build step, nothing fetched from elsewhere), and
/// index.html for every page route so a pasted /f/ID link opens that file's page.
/// </summary>
public static class WebUi
{
    /// <summary>Routes the page handles itself; the server answers each with index.html.</summary>
    private static readonly string[] PageRoutes = ["/", "/files", "/upload", "/transfers", "/folder", "/settings", "/f/{id}"];

    private const string TokenPlaceholder = "<meta name=\"shoal-token\" content=\"\">";

    // The page runs only its own script and styles and talks only to this node.
    private const string ContentSecurityPolicy =
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
        "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

    private static readonly FrozenDictionary<string, Asset> Assets = LoadAssets();

    public static void Map(WebApplication app, ShoalNode node, ApiAccess access)
    {
        foreach (var route in PageRoutes)
        {
            app.MapGet(route, (HttpContext context) => Page(context, node, access)).ExcludeFromDescription();
        }

        app.MapGet("/assets/{name}", (string name, HttpContext context) => Serve(context, name)).ExcludeFromDescription();
    }

    private static IResult Page(HttpContext context, ShoalNode node, ApiAccess access)
    {
        if (!Assets.TryGetValue("index.html", out var index)) return Results.NotFound();
        var html = Encoding.UTF8.GetString(index.Bytes);

        // The token goes only into a page the node's own user asked for on this computer, and never when a password
        // guards the UI. Other sites cannot read the answer: no CORS, and the loopback-host check stops rebinding.
        if (!access.PasswordSet && IPAddress.IsLoopback(node.ApiEndPoint.Address) && ApiAccess.IsLoopbackHost(context.Request.Host))
        {
            html = html.Replace(TokenPlaceholder, $"<meta name=\"shoal-token\" content=\"{node.ApiToken}\">", StringComparison.Ordinal);
        }

        SetPageHeaders(context.Response);
        context.Response.Headers.CacheControl = "no-store";
        return Results.Text(html, "text/html; charset=utf-8");
    }

    private static IResult Serve(HttpContext context, string name)
    {
        if (name == "index.html" || !Assets.TryGetValue(name, out var asset)) return Results.NotFound();
        SetPageHeaders(context.Response);
        context.Response.Headers.CacheControl = "no-cache";
        context.Response.Headers.ETag = asset.ETag;
        if (context.Request.Headers.IfNoneMatch == asset.ETag) return Results.StatusCode(StatusCodes.Status304NotModified);
        return Results.Bytes(asset.Bytes, asset.ContentType);
    }

    private static void SetPageHeaders(HttpResponse response)
    {
        response.Headers.ContentSecurityPolicy = ContentSecurityPolicy;
        response.Headers.XContentTypeOptions = "nosniff";
        response.Headers["Referrer-Policy"] = "no-referrer";
        response.Headers.XFrameOptions = "DENY";
    }

    private static FrozenDictionary<string, Asset> LoadAssets()
    {
        const string prefix = "web/";
        var assembly = typeof(WebUi).Assembly;
        var assets = new Dictionary<string, Asset>(StringComparer.Ordinal);
        foreach (var resource in assembly.GetManifestResourceNames().Where(n => n.StartsWith(prefix, StringComparison.Ordinal)))
        {
            using var stream = assembly.GetManifestResourceStream(resource)!;
            using var buffer = new MemoryStream();
            stream.CopyTo(buffer);
            var bytes = buffer.ToArray();
            var name = resource[prefix.Length..];
            assets[name] = new Asset(bytes, ContentTypeOf(name), $"\"{Convert.ToHexStringLower(SHA256.HashData(bytes))[..16]}\"");
        }

        return assets.ToFrozenDictionary(StringComparer.Ordinal);
    }

    private static string ContentTypeOf(string name) => Path.GetExtension(name) switch
    {
        ".html" => "text/html; charset=utf-8",
        ".css" => "text/css; charset=utf-8",
        ".js" => "text/javascript; charset=utf-8",
        ".svg" => "image/svg+xml",
        ".png" => "image/png",
        _ => "application/octet-stream",
    };

    private sealed record Asset(byte[] Bytes, string ContentType, string ETag);
}
