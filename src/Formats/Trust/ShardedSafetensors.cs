using System.Text.Json;

namespace Mlx.Formats.Trust;

/// <summary>
/// A sharded safetensors model: <c>model.safetensors.index.json</c> (<c>{"metadata": {...}, "weight_map": {tensor: shard}}</c>)
/// read through a <see cref="ModelRoot"/>. Shard names must be plain file names in the same folder: a separator,
/// <c>..</c> or an absolute path is refused, and each shard is opened through the root (regular files, links kept
/// inside). Every tensor of a shard must be listed for that shard, and every listed tensor must be in its shard.
/// </summary>
public sealed class ShardedSafetensors : IDisposable
{
    private readonly List<ModelFile> _files;

    private ShardedSafetensors(IReadOnlyDictionary<string, string> weightMap, List<ModelFile> files)
    {
        WeightMap = weightMap;
        _files = files;
    }

    /// <summary>tensor name -> shard file name.</summary>
    public IReadOnlyDictionary<string, string> WeightMap { get; }

    /// <summary>The opened shards, in first-use order of the weight map.</summary>
    public IReadOnlyList<ModelFile> Shards => _files;

    /// <summary>Parses an index JSON (strictly: an object with a "weight_map" object of string values; duplicate keys refused).</summary>
    /// <exception cref="ModelFormatException">Malformed.</exception>
    /// <exception cref="PathRefusedException">A shard name is not a plain file name.</exception>
    public static Dictionary<string, string> ParseIndex(ReadOnlySpan<byte> json, long maxTensors = 1_000_000)
    {
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(json.ToArray(), new JsonDocumentOptions { MaxDepth = 8, AllowDuplicateProperties = false });
        }
        catch (JsonException e)
        {
            throw new ModelFormatException(ModelFileFormat.Safetensors, $"the shard index is not valid JSON ({e.Message.Split('.')[0]})");
        }
        using (doc)
        {
            if (doc.RootElement.ValueKind != JsonValueKind.Object || !doc.RootElement.TryGetProperty("weight_map", out JsonElement map) || map.ValueKind != JsonValueKind.Object)
            {
                throw new ModelFormatException(ModelFileFormat.Safetensors, "the shard index has no \"weight_map\" object");
            }
            var result = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (JsonProperty p in map.EnumerateObject())
            {
                if (p.Value.ValueKind != JsonValueKind.String)
                {
                    throw new ModelFormatException(ModelFileFormat.Safetensors, $"weight_map['{p.Name}'] is not a string");
                }
                string shard = p.Value.GetString()!;
                ModelRoot.ValidateName(shard, allowSubfolders: false);
                result[p.Name] = shard;
                if (result.Count > maxTensors)
                {
                    throw new ModelFormatException(ModelFileFormat.Safetensors, $"the shard index lists more than {maxTensors} tensors");
                }
            }
            return result;
        }
    }

    /// <summary>Reads the index through the root and opens (validates) every shard it names.</summary>
    public static ShardedSafetensors Open(ModelRoot root, string indexName = "model.safetensors.index.json", LoadLimits? limits = null)
    {
        limits ??= LoadLimits.Default;
        Dictionary<string, string> map = ParseIndex(root.ReadAllBytes(indexName, Math.Min(limits.MaxHeaderBytes, 256L << 20)), limits.MaxTensorCount);
        return Open(map, name => root.OpenModelFile(name, limits, allowSubfolders: false));
    }

    /// <summary>Opens the shards of a parsed weight map with <paramref name="open"/> (e.g. from a <see cref="VerifiedModel"/>) and cross-checks them.</summary>
    public static ShardedSafetensors Open(Dictionary<string, string> map, Func<string, ModelFile> open)
    {
        var files = new List<ModelFile>();
        try
        {
            foreach (string shard in map.Values.Distinct(StringComparer.Ordinal))
            {
                if (!shard.EndsWith(".safetensors", StringComparison.Ordinal))
                {
                    throw new ModelFormatException(ModelFileFormat.Safetensors, $"shard '{shard}' is not a .safetensors file");
                }
                ModelFile file = open(shard);
                files.Add(file);
                foreach (TensorEntry t in file.Tensors)
                {
                    if (!map.TryGetValue(t.Name, out string? listed) || listed != shard)
                    {
                        throw new ModelFormatException(ModelFileFormat.Safetensors, $"shard '{shard}' holds tensor '{t.Name}', which the index does not assign to it");
                    }
                }
            }
            foreach ((string tensor, string shard) in map)
            {
                if (!files.First(f => Path.GetFileName(f.Path) == shard).TryGetTensor(tensor, out _))
                {
                    throw new ModelFormatException(ModelFileFormat.Safetensors, $"the index puts tensor '{tensor}' in '{shard}', which does not hold it");
                }
            }
            return new ShardedSafetensors(map, files);
        }
        catch
        {
            foreach (ModelFile f in files)
            {
                f.Dispose();
            }
            throw;
        }
    }

    /// <summary>Closes the shards.</summary>
    public void Dispose()
    {
        foreach (ModelFile f in _files)
        {
            f.Dispose();
        }
    }
}
