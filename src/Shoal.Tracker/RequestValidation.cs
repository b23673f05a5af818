using System.Net;
using Shoal.Core;
using Shoal.Net.Tracking;
using Shoal.Tracker.Storage;

namespace Shoal.Tracker;

/// <summary>A request field the tracker refuses; the message names the field and says what is wrong with it.</summary>
internal sealed class InvalidRequestException(string message) : Exception(message);

/// <param name="ObservedAddress">Where the request came from, with the announced listen port.</param>
internal sealed record ValidAnnounce(DeviceRegistration Registration, string ObservedAddress, bool Reset, IReadOnlyList<HoldingChange> Changes);

/// <summary>
/// Checks every field of a request before anything is written, and puts what passes in the form the store keeps:
/// ids in canonical text, addresses normalised, bitfields decoded. JSON null where the contract has no null (a client
/// that left a field out) is refused like any other invalid value, except for lists, where it means none.
/// </summary>
internal static class RequestValidation
{
    public static ValidAnnounce Announce(AnnounceRequest request, IPAddress remote)
    {
        var name = Name(request.Name, "name", allowEmpty: true);
        if (request.ListenPort is < 1 or > IPEndPoint.MaxPort) throw new InvalidRequestException("listenPort: must be from 1 to 65535");
        var observedIp = remote.IsIPv4MappedToIPv6 ? remote.MapToIPv4() : remote;
        var observed = new IPEndPoint(observedIp, request.ListenPort).ToString();

        var announced = request.Addresses ?? [];
        if (announced.Count > TrackerLimits.MaxAddresses) throw new InvalidRequestException($"addresses: at most {TrackerLimits.MaxAddresses}");
        var addresses = new List<string>(TrackerLimits.MaxAddresses) { observed };
        for (var i = 0; i < announced.Count; i++)
        {
            var address = Address(announced[i], observedIp, $"addresses[{i}]");
            if (addresses.Count < TrackerLimits.MaxAddresses && !addresses.Contains(address)) addresses.Add(address);
        }

        var files = request.Files ?? [];
        if (files.Count > TrackerLimits.MaxFilesPerAnnounce) throw new InvalidRequestException($"files: at most {TrackerLimits.MaxFilesPerAnnounce} per announce");
        var changes = new HoldingChange[files.Count];
        for (var i = 0; i < files.Count; i++) changes[i] = File(files[i], $"files[{i}]");
        return new ValidAnnounce(new DeviceRegistration(name, addresses), observed, request.Reset, changes);
    }

    public static (string? Query, int Limit) Files(FilesRequest request)
    {
        var query = request.Query;
        if (query?.Length > TrackerLimits.MaxQueryLength) throw new InvalidRequestException($"query: longer than {TrackerLimits.MaxQueryLength} characters");
        if (query is not null && query.Any(char.IsControl)) throw new InvalidRequestException("query: contains control characters");
        return (query, Limit(request.Limit));
    }

    public static (string File, int Limit) Holders(HoldersRequest request) => (FileIdText(request.File, "file"), Limit(request.Limit));

    public static (IReadOnlyList<string>? Devices, int Limit) Peers(PeersRequest request)
    {
        if (request.Devices is not { } devices) return (null, Limit(request.Limit));
        if (devices.Count > TrackerLimits.MaxResults) throw new InvalidRequestException($"devices: at most {TrackerLimits.MaxResults}");
        var hex = new string[devices.Count];
        for (var i = 0; i < devices.Count; i++)
        {
            hex[i] = Device(devices[i], $"devices[{i}]");
        }

        return (hex, Limit(request.Limit));
    }

    /// <summary>A device id in the form the tracker stores it.</summary>
    public static string Device(string? text, string field) =>
        TrackerDeviceId.TryParse(text, out var device) ? TrackerDeviceId.Format(device) : throw new InvalidRequestException($"{field}: not a device id (64 hex digits)");

    private static int Limit(int limit) => Math.Clamp(limit, 1, TrackerLimits.MaxResults);

    private static HoldingChange File(FileAnnouncement? file, string field)
    {
        if (file is null) throw new InvalidRequestException($"{field} is missing");
        var id = FileIdText(file.Id, $"{field}.id");
        if (file.Removed) return HoldingChange.Removal(id);
        var name = Name(file.Name, $"{field}.name", allowEmpty: false);
        if (file.Size < 0) throw new InvalidRequestException($"{field}.size: must not be negative");

        // An empty file has no chunks; every other file has at least one.
        if (file.ChunkCount is < 0 or > TrackerLimits.MaxChunkCount || (file.ChunkCount == 0) != (file.Size == 0))
        {
            throw new InvalidRequestException($"{field}.chunkCount: must be from 1 to {TrackerLimits.MaxChunkCount} (0 for an empty file)");
        }

        if (file.Chunks is null) return new HoldingChange(id, name, file.Size, file.ChunkCount, null);
        var bits = Bits(file.Chunks, file.ChunkCount, $"{field}.chunks");

        // Normalised so that "all of it" has one form, and a device holding no chunk of a file is not a holder.
        if (bits.IsComplete) return new HoldingChange(id, name, file.Size, file.ChunkCount, null);
        return bits.IsEmpty ? HoldingChange.Removal(id) : new HoldingChange(id, name, file.Size, file.ChunkCount, bits.ToArray());
    }

    private static Bitfield Bits(string base64, int chunkCount, string field)
    {
        var length = Bitfield.ByteLength(chunkCount);

        // Checked on the text first, so a field of the wrong size is refused before a buffer is made for it.
        var refused = new InvalidRequestException($"{field}: must be {length} bytes of base64, one bit per chunk");
        if (base64.Length != ((length + 2) / 3 * 4)) throw refused;
        var bytes = new byte[length];
        if (!Convert.TryFromBase64String(base64, bytes, out var written) || written != length) throw refused;

        if (!Bitfield.TryFromBytes(chunkCount, bytes, out var bits)) throw new InvalidRequestException($"{field}: has bits set past the last chunk");
        return bits;
    }

    private static string FileIdText(string? text, string field) =>
        text is not null && FileId.TryParse(text, out var id) ? id.ToString() : throw new InvalidRequestException($"{field}: not a file id");

    private static string Name(string? text, string field, bool allowEmpty)
    {
        if (text is null) throw new InvalidRequestException($"{field} is missing");
        if (text.Length == 0 && !allowEmpty) throw new InvalidRequestException($"{field} is empty");
        if (text.Length > TrackerLimits.MaxNameLength) throw new InvalidRequestException($"{field}: longer than {TrackerLimits.MaxNameLength} characters");
        if (text.Any(char.IsControl)) throw new InvalidRequestException($"{field}: contains control characters");
        return text;
    }

    private static string Address(string? text, IPAddress observed, string field)
    {
        if (text is null) throw new InvalidRequestException($"{field} is missing");
        if (text.Length > TrackerLimits.MaxAddressLength) throw new InvalidRequestException($"{field}: longer than {TrackerLimits.MaxAddressLength} characters");

        // IPEndPoint.TryParse also takes a bare address or an unbracketed IPv6 one; only the written-out forms pass.
        var written = text.StartsWith('[') ? text.Contains("]:", StringComparison.Ordinal) : text.Count(c => c == ':') == 1;
        if (!written || !IPEndPoint.TryParse(text, out var endPoint) || endPoint.Port == 0)
        {
            throw new InvalidRequestException($"{field}: '{text}' is not IPv4:port or [IPv6]:port");
        }

        var address = endPoint.Address.IsIPv4MappedToIPv6 ? endPoint.Address.MapToIPv4() : endPoint.Address;

        // "Every interface" means nothing to another node: the address the request came from stands in for it.
        if (address.Equals(IPAddress.Any) || address.Equals(IPAddress.IPv6Any)) address = observed;
        return new IPEndPoint(address, endPoint.Port).ToString();
    }
}
