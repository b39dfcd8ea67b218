using Mlx.Formats;

namespace Mlx;

/// <summary>Options for <see cref="Mx.Load(string, LoadOptions?)"/>.</summary>
public sealed class LoadOptions
{
    /// <summary>Caps on what an untrusted file may declare (defaults: <see cref="LoadLimits.Default"/>).</summary>
    public LoadLimits Limits { get; init; } = LoadLimits.Default;

    /// <summary>GGUF Q4_0/Q4_1/Q8_0 tensors: dequantize to float32 instead of MLX's (w, scales, biases) triplets.</summary>
    public bool Dequantize { get; init; }

    /// <summary>
    /// The file's SHA-256 (hex). The file is read once into a private copy while hashed, and that copy is what is
    /// parsed; a mismatch throws <see cref="Mlx.Formats.Trust.DigestMismatchException"/> before anything is parsed.
    /// </summary>
    public string? ExpectedSha256 { get; init; }

    /// <summary>
    /// Require an OpenSSF Model Signing signature (<c>model.sig</c>) by this signer over the folder holding the file
    /// (or <see cref="SignedFolder"/>): the whole folder is verified first, then the file is parsed from the very
    /// bytes that were hashed. Failures throw <see cref="Mlx.Formats.Trust.SignatureVerificationException"/>.
    /// </summary>
    public Mlx.Formats.Trust.TrustedSigner? TrustedKey { get; init; }

    /// <summary>The signed model folder, when it is not the folder holding the file.</summary>
    public string? SignedFolder { get; init; }

    /// <summary>Parse in a child process under these limits (see <see cref="Mlx.Formats.Trust.IsolatedLoader"/>); null: in process.</summary>
    public Mlx.Formats.Trust.IsolationLimits? Isolation { get; init; }
}

public static unsafe partial class Mx
{
    /// <summary>
    /// Loads every array of a .npy (one array, named ""), .npz, .safetensors or .gguf file. The format is read
    /// from the content and cross-checked with the extension; a malformed file, or one over the limits, throws
    /// <see cref="ModelFormatException"/>; a file whose arrays would pass the memory limit throws
    /// <see cref="MemoryLimitExceededException"/> before anything is allocated.
    /// </summary>
    public static Dictionary<string, MxArray> Load(string path, LoadOptions? options = null) => Load(path, out _, options);

    /// <summary>Loads the arrays and the file's metadata (safetensors __metadata__, GGUF key-values; inert values).</summary>
    public static Dictionary<string, MxArray> Load(string path, out IReadOnlyDictionary<string, MetadataValue> metadata, LoadOptions? options = null)
    {
        options ??= new LoadOptions();
        if (options.Isolation is not null)
        {
            return LoadIsolated(path, out metadata, options);
        }
        // Not disposed here: the arrays read their bytes lazily, when evaluated; the handle closes with the last of them.
        var file = OpenForLoad(path, options);
        metadata = file.Metadata;
        return LoadFile(file, options);
    }

    /// <summary>Converts every tensor of an opened file, after checking the memory budget for all of them.</summary>
    internal static Dictionary<string, MxArray> LoadFile(ModelFile file, LoadOptions options)
    {
        long total = 0;
        foreach (var t in file.Tensors)
        {
            total = checked(total + (t.DType is null ? t.ElementCount * 4 : t.ByteLength));
        }
        Memory.EnsureAvailable(total);
        var result = new Dictionary<string, MxArray>(StringComparer.Ordinal);
        foreach (var entry in file.Tensors)
        {
            if (entry.DType is { } dt)
            {
                result[entry.Name] = ReadPlain(file, entry, (DType)dt);
                continue;
            }
            var type = entry.GgmlType!;
            switch (GgufQuantization.ConversionFor(type))
            {
                case GgufConversion.Affine when !options.Dequantize:
                    // MLX's names ("P.weight", "P.scales", "P.biases"): those nn.Quantize gives a model's layers.
                    var q = file.ReadAffineQuantized(entry);
                    var (wName, sName, bName) = GgufQuantization.MlxNames(entry.Name);
                    result[wName] = FromBytes(q.Weights, Dims(q.WeightsShape), DType.UInt32);
                    result[sName] = FromBytes(q.Scales, Dims(q.ScalesShape), DType.Float16);
                    result[bName] = FromBytes(q.Biases, Dims(q.ScalesShape), DType.Float16);
                    break;
                case GgufConversion.Affine:
                    result[entry.Name] = Array(file.DequantizeToFloat32(entry), Dims(entry.ShapeArrayPublic()));
                    break;
                case GgufConversion.DequantizeFloat16:
                    result[entry.Name] = Array(file.DequantizeToFloat16(entry), Dims(entry.ShapeArrayPublic()));
                    break;
                default:
                    throw new ModelFormatException(ModelFileFormat.Gguf, $"tensor '{entry.Name}' has ggml type {type.Name}, which cannot be loaded into arrays");
            }
        }
        return result;
    }

    /// <summary>Loads the single array of a .npy file.</summary>
    public static MxArray LoadArray(string path, LoadOptions? options = null)
    {
        var arrays = Load(path, options);
        if (arrays.Count != 1) throw new ArgumentException($"{path} holds {arrays.Count} arrays, not one.");
        return arrays.Values.First();
    }

    private static MxArray ReadPlain(ModelFile file, TensorEntry entry, DType dtype) =>
        MxArray.Create(Dims(entry.ShapeArrayPublic()), dtype, new LoadPrimitive(file, entry));

    private static int[] Dims(IReadOnlyList<long> shape) => shape.Select(d => d <= int.MaxValue ? (int)d
        : throw new ModelFormatException(null, $"dimension {d} does not fit in an int32 dimension")).ToArray();

    private static long[] ShapeArrayPublic(this TensorEntry e) => e.Shape.ToArray();

    private static TensorData ToTensor(string name, MxArray a)
    {
        var c = Contiguous(a);
        Eval(c);
        var bytes = new byte[c.NBytes];
        if (bytes.Length > 0)
        {
            new ReadOnlySpan<byte>(c.RawPtr, bytes.Length).CopyTo(bytes);
        }
        return new TensorData(name, (TensorDType)a.DType, a.ShapeRef.Select(d => (long)d).ToArray(), bytes);
    }

    /// <summary>Saves one array as .npy (the ".npy" extension is added when missing, as MLX does).</summary>
    public static void Save(string path, MxArray array)
    {
        if (!path.EndsWith(".npy", StringComparison.Ordinal)) path += ".npy";
        var t = ToTensor("", array);
        NpyWriter.Write(path, t.DType, t.Shape, t.Data);
    }

    /// <summary>Saves named arrays as an uncompressed .npz.</summary>
    public static void Savez(string path, IReadOnlyDictionary<string, MxArray> arrays) =>
        NpzWriter.Write(NpzPath(path), arrays.Select(kv => ToTensor(kv.Key, kv.Value)).ToList(), compress: false);

    /// <summary>Saves named arrays as a deflate-compressed .npz.</summary>
    public static void SavezCompressed(string path, IReadOnlyDictionary<string, MxArray> arrays) =>
        NpzWriter.Write(NpzPath(path), arrays.Select(kv => ToTensor(kv.Key, kv.Value)).ToList(), compress: true);

    private static string NpzPath(string path) => path.EndsWith(".npz", StringComparison.Ordinal) ? path : path + ".npz";

    /// <summary>Saves named arrays as .safetensors with optional string metadata.</summary>
    public static void SaveSafetensors(string path, IReadOnlyDictionary<string, MxArray> arrays, IReadOnlyDictionary<string, string>? metadata = null)
    {
        if (!path.EndsWith(".safetensors", StringComparison.Ordinal)) path += ".safetensors";
        SafetensorsWriter.Write(path, arrays.Select(kv => ToTensor(kv.Key, kv.Value)).ToList(), metadata);
    }

    /// <summary>Saves named arrays as GGUF v3 with optional metadata.</summary>
    public static void SaveGguf(string path, IReadOnlyDictionary<string, MxArray> arrays, IReadOnlyDictionary<string, MetadataValue>? metadata = null)
    {
        if (!path.EndsWith(".gguf", StringComparison.Ordinal)) path += ".gguf";
        GgufWriter.Write(path, arrays.Select(kv => ToTensor(kv.Key, kv.Value)).ToList(), metadata);
    }
}

/// <summary>
/// Reads one validated tensor of an open model file when the graph needs it (MLX's Load primitive): straight
/// into the array's buffer with positioned reads, no intermediate copy. A file changed since it was validated
/// fails the evaluation with a <see cref="ModelFormatException"/>.
/// </summary>
internal sealed unsafe class LoadPrimitive : Primitive
{
    private readonly ModelFile _file;
    private readonly TensorEntry _entry;

    public LoadPrimitive(ModelFile file, TensorEntry entry)
    {
        _file = file;
        _entry = entry;
    }

    public override string Name => "Load";

    public override bool IsEquivalent(Primitive other) => other is LoadPrimitive p && ReferenceEquals(p._file, _file) && ReferenceEquals(p._entry, _entry);

    public override void EvalCpu(MxArray[] inputs, MxArray[] outputs)
    {
        var o = outputs[0];
        o.AllocateData();
        long length = _entry.ByteLength;
        if (length == 0)
        {
            return;
        }
        byte* dst = (byte*)o.Buffer.Pointer;
        if (length <= int.MaxValue || _entry.IsFortranOrder || _entry.IsBigEndian)
        {
            _file.ReadTensor(_entry, new Span<byte>(dst, checked((int)length)));
            return;
        }
        // Tensors past 2 GiB are read in chunks (they are stored little-endian in C order).
        const int chunk = 1 << 30;
        for (long done = 0; done < length; done += chunk)
        {
            _file.ReadRawBytes(_entry, done, new Span<byte>(dst + done, (int)Math.Min(chunk, length - done)));
        }
    }
}
