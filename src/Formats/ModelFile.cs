using System.IO.Compression;
using Microsoft.Win32.SafeHandles;
using Mlx.Formats.Internal;

namespace Mlx.Formats;

/// <summary>
/// An opened, fully validated model file (.npy, .npz, .safetensors, .gguf). Opening parses and checks
/// every header, count, offset and size against the file and the <see cref="LoadLimits"/>; tensor data
/// is then read lazily with positioned reads (no mapping, no copies of the whole file). Every refusal,
/// including I/O failures and a file that changes after opening, is a <see cref="ModelFormatException"/>.
/// Reads are positioned (no shared cursor), so several threads may read tensors of one instance at once.
/// </summary>
public sealed partial class ModelFile : IDisposable
{
    private readonly SafeFileHandle _handle;
    private readonly Dictionary<string, TensorEntry> _byName;

    private ModelFile(string path, SafeFileHandle handle, long length, ModelFileFormat format, LoadLimits limits,
        IReadOnlyDictionary<string, MetadataValue> metadata, List<TensorEntry> tensors)
    {
        Path = path;
        _handle = handle;
        Length = length;
        Format = format;
        Limits = limits;
        Metadata = metadata;
        Tensors = tensors;
        _byName = new Dictionary<string, TensorEntry>(StringComparer.Ordinal);
        foreach (TensorEntry t in tensors)
        {
            t.Owner = this;
            _byName[t.Name] = t;
        }
    }

    /// <summary>The path given to <see cref="Open"/>.</summary>
    public string Path { get; }

    /// <summary>The detected (and extension-checked) format.</summary>
    public ModelFileFormat Format { get; }

    /// <summary>File length in bytes when opened; reads fail if it changes.</summary>
    public long Length { get; }

    /// <summary>The limits the file was opened with.</summary>
    public LoadLimits Limits { get; }

    /// <summary>
    /// Metadata: GGUF key/values, or safetensors <c>__metadata__</c> strings. Empty for .npy and .npz.
    /// </summary>
    public IReadOnlyDictionary<string, MetadataValue> Metadata { get; }

    /// <summary>Tensors in file order (safetensors: header key order, which is sorted when written by MLX or this library).</summary>
    public IReadOnlyList<TensorEntry> Tensors { get; }

    /// <summary>Finds a tensor by name.</summary>
    public bool TryGetTensor(string name, out TensorEntry entry) => _byName.TryGetValue(name, out entry!);

    /// <summary>
    /// Opens and validates a model file. The format comes from the content (magic bytes); a known
    /// extension (.npy, .npz, .safetensors, .gguf) must agree with it. Pickles and PyTorch zip
    /// checkpoints are refused whatever their extension.
    /// </summary>
    /// <exception cref="ModelFormatException">The file is malformed, over a limit, a pickle, or unreadable.</exception>
    public static ModelFile Open(string path, LoadLimits? limits = null)
    {
        ArgumentNullException.ThrowIfNull(path);
        limits ??= LoadLimits.Default;
        ModelFileFormat? byExtension = ModelFileFormats.FromExtension(System.IO.Path.GetExtension(path));
        SafeFileHandle handle;
        long length;
        try
        {
            RefuseSpecialFile(path, byExtension);
            handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.Read);
            length = RandomAccess.GetLength(handle);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            throw new ModelFormatException(byExtension, $"cannot open: {e.Message}", null, e);
        }
        try
        {
            return OpenHandle(path, handle, length, byExtension, limits);
        }
        catch
        {
            handle.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Detects the format of a file from its first bytes, without validating it; null when the content
    /// is not one of the four formats. Pickles and PyTorch zips are refused with the pickle message.
    /// </summary>
    /// <exception cref="ModelFormatException">The file is a pickle or cannot be read.</exception>
    public static ModelFileFormat? Detect(string path)
    {
        try
        {
            RefuseSpecialFile(path, null);
            using SafeFileHandle handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.Read);
            long length = RandomAccess.GetLength(handle);
            return DetectContent(handle, length, ModelFileFormats.FromExtension(System.IO.Path.GetExtension(path)), LoadLimits.Default);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            throw new ModelFormatException(null, $"cannot open: {e.Message}", null, e);
        }
    }

    /// <summary>A FIFO would block the open and a device never ends: refuse anything but a regular file (links followed) before opening.</summary>
    private static void RefuseSpecialFile(string path, ModelFileFormat? byExtension)
    {
        Trust.FileStat st = Trust.SafeFile.Stat(path);
        if (st.Kind is not (Trust.FileKind.Regular or Trust.FileKind.Missing or Trust.FileKind.Symlink))
        {
            throw new ModelFormatException(byExtension, $"cannot open: '{path}' is {Trust.FileStat.Describe(st.Kind)}, not a regular file");
        }
    }

    private static ModelFile OpenHandle(string path, SafeFileHandle handle, long length, ModelFileFormat? byExtension, LoadLimits limits)
    {
        if (length > limits.MaxFileBytes)
        {
            throw new ModelFormatException(byExtension, $"file is {length} bytes, over the limit of {limits.MaxFileBytes} (LoadLimits.MaxFileBytes)");
        }
        ModelFileFormat? detected = DetectContent(handle, length, byExtension, limits);
        // Safetensors has no magic; when the extension claims it, its reader gives the precise reason.
        if (detected is null && byExtension == ModelFileFormat.Safetensors && length >= 8)
        {
            detected = ModelFileFormat.Safetensors;
        }
        if (detected is null)
        {
            throw new ModelFormatException(byExtension, "content is not a recognised model file (npy, npz, safetensors or gguf magic not found)", 0);
        }
        if (byExtension is { } ext && ext != detected)
        {
            throw new ModelFormatException(ext,
                $"the content is {ModelFileFormats.Name(detected.Value)} but the extension says {ModelFileFormats.Name(ext)}; rename it or check where it came from", 0);
        }
        ModelFileFormat format = detected.Value;
        try
        {
            (IReadOnlyDictionary<string, MetadataValue> metadata, List<TensorEntry> tensors) = format switch
            {
                ModelFileFormat.Npy => NpyReader.Read(handle, length, limits),
                ModelFileFormat.Npz => NpzReader.Read(handle, length, limits),
                ModelFileFormat.Safetensors => SafetensorsReader.Read(handle, length, limits),
                _ => GgufReader.Read(handle, length, limits),
            };
            if (tensors.Count > limits.MaxTensorCount)
            {
                throw new ModelFormatException(format, $"{tensors.Count} tensors is over the limit of {limits.MaxTensorCount} (LoadLimits.MaxTensorCount)");
            }
            return new ModelFile(path, handle, length, format, limits, metadata, tensors);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or InvalidDataException or NotSupportedException)
        {
            throw new ModelFormatException(format, $"read failed: {e.Message}", null, e);
        }
    }

    private static ModelFileFormat? DetectContent(SafeFileHandle handle, long length, ModelFileFormat? byExtension, LoadLimits limits)
    {
        Span<byte> head = stackalloc byte[16];
        int n = 0;
        try
        {
            while (n < head.Length && n < length)
            {
                int got = RandomAccess.Read(handle, head[n..], n);
                if (got == 0)
                {
                    break;
                }
                n += got;
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ModelFormatException(byExtension, $"read failed: {e.Message}", 0, e);
        }
        head = head[..n];
        if (head.StartsWith(NpyHeaderParser.Magic))
        {
            return ModelFileFormat.Npy;
        }
        if (head.StartsWith("GGUF"u8))
        {
            return ModelFileFormat.Gguf;
        }
        // Pickle protocols 2-5 start with PROTO (0x80) and the protocol number; legacy torch.save files are such streams.
        if (head.Length >= 2 && head[0] == 0x80 && head[1] is >= 2 and <= 5)
        {
            throw new ModelFormatException(byExtension, Messages.Pickle, 0);
        }
        if (head.StartsWith("PK\x03\x04"u8) || head.StartsWith("PK\x05\x06"u8))
        {
            if (NpzReader.ContainsPickle(handle, length, limits))
            {
                throw new ModelFormatException(byExtension, "a zip with a .pkl member (a PyTorch checkpoint): " + Messages.Pickle, 0);
            }
            return ModelFileFormat.Npz;
        }
        if (head.Length >= 9 && head[8] == (byte)'{')
        {
            return ModelFileFormat.Safetensors;
        }
        return null;
    }

    /// <summary>Copies a tensor's bytes exactly as stored into <paramref name="destination"/> (length must be <see cref="TensorEntry.ByteLength"/>).</summary>
    /// <exception cref="ModelFormatException">The file changed, was truncated, or could not be read.</exception>
    public void ReadRawBytes(TensorEntry entry, Span<byte> destination)
    {
        CheckEntry(entry);
        if (destination.Length != entry.ByteLength)
        {
            throw new ArgumentException($"destination is {destination.Length} bytes; tensor '{entry.Name}' is {entry.ByteLength}", nameof(destination));
        }
        ReadRawBytes(entry, 0, destination);
    }

    /// <summary>
    /// Copies part of a tensor's stored bytes, starting <paramref name="offsetInTensor"/> bytes in, so
    /// tensors larger than one array can be streamed (e.g. hashed) in chunks.
    /// </summary>
    /// <exception cref="ModelFormatException">The file changed, was truncated, or could not be read.</exception>
    public void ReadRawBytes(TensorEntry entry, long offsetInTensor, Span<byte> destination)
    {
        CheckEntry(entry);
        if (offsetInTensor < 0 || offsetInTensor > entry.ByteLength || destination.Length > entry.ByteLength - offsetInTensor)
        {
            throw new ArgumentOutOfRangeException(nameof(offsetInTensor), "range is outside the tensor");
        }
        try
        {
            if (RandomAccess.GetLength(_handle) != Length)
            {
                throw new ModelFormatException(Format, "the file changed size since it was opened");
            }
            if (entry.Deflated is { } member)
            {
                ReadDeflated(member, entry, offsetInTensor, destination);
                return;
            }
            long position = entry.DataOffset + offsetInTensor;
            while (!destination.IsEmpty)
            {
                int n = RandomAccess.Read(_handle, destination, position);
                if (n == 0)
                {
                    throw new ModelFormatException(Format, $"file ended while reading tensor '{entry.Name}' (it changed since it was opened)", position);
                }
                destination = destination[n..];
                position += n;
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or InvalidDataException or NotSupportedException or ObjectDisposedException)
        {
            throw new ModelFormatException(Format, $"reading tensor '{entry.Name}' failed: {e.Message}", entry.DataOffset, e);
        }
    }

    /// <summary>A tensor's stored bytes as a new array.</summary>
    /// <exception cref="ModelFormatException">The file changed or the tensor does not fit one array.</exception>
    public byte[] ReadRawBytes(TensorEntry entry)
    {
        byte[] result = AllocateFor(entry, entry.ByteLength);
        ReadRawBytes(entry, result);
        return result;
    }

    /// <summary>
    /// Reads a plain-dtype tensor as little-endian, C-order (row-major) bytes of <see cref="TensorEntry.DType"/>:
    /// big-endian .npy data is byte-swapped and Fortran-order data reordered.
    /// </summary>
    /// <exception cref="ModelFormatException">The tensor is quantized (no plain dtype), or the file changed.</exception>
    public void ReadTensor(TensorEntry entry, Span<byte> destination)
    {
        CheckEntry(entry);
        if (entry.DType is not { } dtype)
        {
            throw new ModelFormatException(Format,
                $"tensor '{entry.Name}' has quantized type {entry.TypeName}; use ReadAffineQuantized or DequantizeToFloat32/16");
        }
        if (destination.Length != entry.ByteLength)
        {
            throw new ArgumentException($"destination is {destination.Length} bytes; tensor '{entry.Name}' is {entry.ByteLength}", nameof(destination));
        }
        if (entry.IsFortranOrder && entry.ShapeArray.Length > 1)
        {
            byte[] stored = ReadRawBytes(entry);
            if (entry.IsBigEndian)
            {
                SwapBytes(stored, dtype.SwapUnit());
            }
            FortranToC(stored, destination, entry.ShapeArray, dtype.ItemSize());
            return;
        }
        ReadRawBytes(entry, destination);
        if (entry.IsBigEndian)
        {
            SwapBytes(destination, dtype.SwapUnit());
        }
    }

    /// <summary>A plain-dtype tensor as little-endian C-order bytes in a new array.</summary>
    public byte[] ReadTensor(TensorEntry entry)
    {
        byte[] result = AllocateFor(entry, entry.ByteLength);
        ReadTensor(entry, result);
        return result;
    }

    /// <summary>Closes the file.</summary>
    public void Dispose() => _handle.Dispose();

    private void CheckEntry(TensorEntry entry)
    {
        ArgumentNullException.ThrowIfNull(entry);
        if (!ReferenceEquals(entry.Owner, this))
        {
            throw new ArgumentException("the tensor entry belongs to another file", nameof(entry));
        }
    }

    private byte[] AllocateFor(TensorEntry entry, long bytes)
    {
        if (bytes > Array.MaxLength)
        {
            throw new ModelFormatException(Format, $"tensor '{entry.Name}' is {bytes} bytes, too large for one array; read it in chunks");
        }
        return new byte[bytes];
    }

    private void ReadDeflated(DeflatedMember member, TensorEntry entry, long offsetInTensor, Span<byte> destination)
    {
        using var region = new FileRegionStream(_handle, member.CompressedOffset, member.CompressedSize);
        using var inflater = new DeflateStream(region, CompressionMode.Decompress);
        var crc = new Crc32();
        long skip = member.DataStartInMember + offsetInTensor;
        long produced = 0;
        byte[] scratch = new byte[64 * 1024];
        while (skip > 0)
        {
            int n = inflater.Read(scratch, 0, (int)Math.Min(scratch.Length, skip));
            if (n == 0)
            {
                throw new ModelFormatException(Format, $"member '{member.MemberName}' ended early", member.CompressedOffset);
            }
            crc.Append(scratch.AsSpan(0, n));
            skip -= n;
            produced += n;
        }
        Span<byte> target = destination;
        while (!target.IsEmpty)
        {
            int n = inflater.Read(target);
            if (n == 0)
            {
                throw new ModelFormatException(Format, $"member '{member.MemberName}' ended early", member.CompressedOffset);
            }
            crc.Append(target[..n]);
            target = target[n..];
            produced += n;
        }
        // A whole-tensor read reaches the end of the member, so its CRC can be re-checked cheaply.
        if (produced == member.UncompressedSize && crc.Value != member.Crc32)
        {
            throw new ModelFormatException(Format, $"CRC-32 mismatch in member '{member.MemberName}' (the file changed since it was opened)", member.CompressedOffset);
        }
    }

    internal static void SwapBytes(Span<byte> data, int unit)
    {
        for (int i = 0; i + unit <= data.Length; i += unit)
        {
            data.Slice(i, unit).Reverse();
        }
    }

    /// <summary>Reorders column-major items into row-major order.</summary>
    internal static void FortranToC(ReadOnlySpan<byte> source, Span<byte> destination, long[] shape, int itemSize)
    {
        int rank = shape.Length;
        long count = destination.Length / itemSize;
        if (count == 0)
        {
            return;
        }
        var fortranStride = new long[rank];
        long stride = 1;
        for (int k = 0; k < rank; k++)
        {
            fortranStride[k] = stride;
            stride *= shape[k];
        }
        var index = new long[rank];
        long src = 0;
        for (long i = 0; i < count; i++)
        {
            source.Slice((int)(src * itemSize), itemSize).CopyTo(destination.Slice((int)(i * itemSize), itemSize));
            for (int k = rank - 1; k >= 0; k--)
            {
                index[k]++;
                src += fortranStride[k];
                if (index[k] < shape[k])
                {
                    break;
                }
                src -= fortranStride[k] * shape[k];
                index[k] = 0;
            }
        }
    }
}
