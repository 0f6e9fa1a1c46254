//! Turning raw little-endian storage bytes plus a (possibly strided) view into
//! a contiguous CPU tensor of one of the three output dtypes (F32, I64, U8).

use candle_core::{Device, Tensor};

/// Element types found in checkpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ElemType {
    Bool,
    U8,
    I8,
    I16,
    I32,
    I64,
    U16,
    U32,
    U64,
    F16,
    BF16,
    F32,
    F64,
}

impl ElemType {
    pub fn size(self) -> usize {
        match self {
            Self::Bool | Self::U8 | Self::I8 => 1,
            Self::I16 | Self::U16 | Self::F16 | Self::BF16 => 2,
            Self::I32 | Self::U32 | Self::F32 => 4,
            Self::I64 | Self::U64 | Self::F64 => 8,
        }
    }

    /// The element type of a torch storage class (`torch.FloatStorage`, ...).
    pub fn from_torch_storage(name: &str) -> Option<Self> {
        Some(match name {
            "FloatStorage" => Self::F32,
            "DoubleStorage" => Self::F64,
            "HalfStorage" => Self::F16,
            "BFloat16Storage" => Self::BF16,
            "LongStorage" => Self::I64,
            "IntStorage" => Self::I32,
            "ShortStorage" => Self::I16,
            "CharStorage" => Self::I8,
            "ByteStorage" | "UntypedStorage" => Self::U8,
            "BoolStorage" => Self::Bool,
            _ => return None,
        })
    }
}

fn f16_to_f32(h: u16) -> f32 {
    let sign = u32::from(h >> 15) << 31;
    let exp = u32::from((h >> 10) & 0x1f);
    let man = u32::from(h & 0x3ff);
    let bits = match (exp, man) {
        (0, 0) => sign,
        (0, _) => {
            // Subnormal half: shift the mantissa up until its leading one is implicit.
            let mut e: u32 = 127 - 15 + 1;
            let mut m = man;
            while m & 0x400 == 0 {
                m <<= 1;
                e -= 1;
            }
            sign | (e << 23) | ((m & 0x3ff) << 13)
        }
        (0x1f, _) => sign | 0x7f80_0000 | (man << 13),
        _ => sign | ((exp + 127 - 15) << 23) | (man << 13),
    };
    f32::from_bits(bits)
}

/// Broadcast views (stride 0) may legitimately be bigger than their storage;
/// anything past this many elements beyond the storage size is treated as corrupt.
const MAX_EXPANDED_ELEMS: usize = 1 << 26;

/// A validated view into a storage of `storage_numel` elements.
struct View<'a> {
    offset: usize,
    size: &'a [usize],
    stride: &'a [usize],
    numel: usize,
    contiguous: bool,
}

fn check_view<'a>(
    storage_numel: usize,
    offset: usize,
    size: &'a [usize],
    stride: &'a [usize],
) -> Result<View<'a>, String> {
    if size.len() != stride.len() {
        return Err(format!(
            "size {size:?} and stride {stride:?} have different ranks"
        ));
    }
    let numel = size
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| format!("shape {size:?} has too many elements"))?;
    if numel == 0 {
        return Ok(View {
            offset,
            size,
            stride,
            numel,
            contiguous: true,
        });
    }
    // Highest element index the view touches; must lie inside the storage.
    let last = size
        .iter()
        .zip(stride)
        .try_fold(offset, |acc, (&d, &s)| {
            (d - 1).checked_mul(s)?.checked_add(acc)
        })
        .ok_or_else(|| format!("view of shape {size:?} stride {stride:?} overflows"))?;
    if last >= storage_numel {
        return Err(format!(
            "view (offset {offset}, shape {size:?}, stride {stride:?}) reaches element {last} \
             of a storage holding {storage_numel}"
        ));
    }
    if numel > storage_numel.max(MAX_EXPANDED_ELEMS) {
        return Err(format!(
            "view of {numel} elements is far larger than its storage of {storage_numel}"
        ));
    }
    // Dimensions of size 1 may carry any stride without breaking contiguity.
    let mut expected = 1usize;
    let mut contiguous = true;
    for (&d, &s) in size.iter().zip(stride).rev() {
        if d != 1 && s != expected {
            contiguous = false;
        }
        expected = expected.saturating_mul(d);
    }
    Ok(View {
        offset,
        size,
        stride,
        numel,
        contiguous,
    })
}

/// Gather the view's elements in row-major order, decoding each with `f`.
fn gather<T, const N: usize>(bytes: &[u8], view: &View<'_>, f: impl Fn([u8; N]) -> T) -> Vec<T> {
    let elem = |i: usize| {
        let mut a = [0u8; N];
        a.copy_from_slice(&bytes[i * N..(i + 1) * N]);
        f(a)
    };
    let mut out = Vec::with_capacity(view.numel);
    if view.numel == 0 {
        return out;
    }
    if view.contiguous {
        out.extend((view.offset..view.offset + view.numel).map(elem));
        return out;
    }
    // Size-1 dimensions never move the index and may carry any stride, so drop
    // them; every remaining stride times its size then stays within about twice
    // the storage length, which check_view bounded.
    let (size, stride): (Vec<usize>, Vec<usize>) = view
        .size
        .iter()
        .zip(view.stride)
        .filter(|(&d, _)| d != 1)
        .map(|(&d, &s)| (d, s))
        .unzip();
    // Odometer over the indices; `pos` tracks the storage index incrementally.
    let rank = size.len();
    let mut index = vec![0usize; rank];
    let mut pos = view.offset;
    for _ in 0..view.numel {
        out.push(elem(pos));
        for d in (0..rank).rev() {
            index[d] += 1;
            pos += stride[d];
            if index[d] < size[d] {
                break;
            }
            pos -= stride[d] * size[d];
            index[d] = 0;
        }
    }
    out
}

/// Build a contiguous CPU tensor from the view (`offset`, `size`, `stride`, in
/// elements) of a storage whose raw bytes are `bytes`. Floating types become
/// F32, signed and wide unsigned integers I64, bool and uint8 U8.
pub(crate) fn tensor_from_storage(
    bytes: &[u8],
    elem: ElemType,
    offset: usize,
    size: &[usize],
    stride: &[usize],
) -> Result<Tensor, String> {
    let storage_numel = bytes.len() / elem.size();
    let view = check_view(storage_numel, offset, size, stride)?;
    let shape = size.to_vec();
    let cpu = &Device::Cpu;
    let t = match elem {
        ElemType::F32 => Tensor::from_vec(gather(bytes, &view, f32::from_le_bytes), shape, cpu),
        ElemType::F64 => Tensor::from_vec(
            gather(bytes, &view, |b| f64::from_le_bytes(b) as f32),
            shape,
            cpu,
        ),
        ElemType::F16 => Tensor::from_vec(
            gather(bytes, &view, |b| f16_to_f32(u16::from_le_bytes(b))),
            shape,
            cpu,
        ),
        ElemType::BF16 => Tensor::from_vec(
            gather(bytes, &view, |b: [u8; 2]| {
                f32::from_bits(u32::from(u16::from_le_bytes(b)) << 16)
            }),
            shape,
            cpu,
        ),
        ElemType::I64 => Tensor::from_vec(gather(bytes, &view, i64::from_le_bytes), shape, cpu),
        ElemType::I32 => Tensor::from_vec(
            gather(bytes, &view, |b| i64::from(i32::from_le_bytes(b))),
            shape,
            cpu,
        ),
        ElemType::I16 => Tensor::from_vec(
            gather(bytes, &view, |b| i64::from(i16::from_le_bytes(b))),
            shape,
            cpu,
        ),
        ElemType::I8 => Tensor::from_vec(
            gather(bytes, &view, |b: [u8; 1]| i64::from(b[0] as i8)),
            shape,
            cpu,
        ),
        ElemType::U16 => Tensor::from_vec(
            gather(bytes, &view, |b| i64::from(u16::from_le_bytes(b))),
            shape,
            cpu,
        ),
        ElemType::U32 => Tensor::from_vec(
            gather(bytes, &view, |b| i64::from(u32::from_le_bytes(b))),
            shape,
            cpu,
        ),
        ElemType::U64 => {
            let vals = gather(bytes, &view, |b| i64::try_from(u64::from_le_bytes(b)).ok());
            let vals: Option<Vec<i64>> = vals.into_iter().collect();
            let vals = vals.ok_or("a uint64 value does not fit in int64")?;
            Tensor::from_vec(vals, shape, cpu)
        }
        ElemType::U8 => Tensor::from_vec(gather(bytes, &view, |b: [u8; 1]| b[0]), shape, cpu),
        ElemType::Bool => Tensor::from_vec(
            gather(bytes, &view, |b: [u8; 1]| u8::from(b[0] != 0)),
            shape,
            cpu,
        ),
    };
    t.map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f32_bytes(v: &[f32]) -> Vec<u8> {
        v.iter().flat_map(|x| x.to_le_bytes()).collect()
    }

    fn values(t: &Tensor) -> Vec<f32> {
        t.flatten_all()
            .and_then(|t| t.to_vec1::<f32>())
            .unwrap_or_default()
    }

    #[test]
    fn half_conversion() {
        assert_eq!(f16_to_f32(0x3c00), 1.0);
        assert_eq!(f16_to_f32(0xc000), -2.0);
        assert_eq!(f16_to_f32(0x0001), 2f32.powi(-24));
        assert_eq!(f16_to_f32(0x03ff), 1023.0 * 2f32.powi(-24));
        assert_eq!(f16_to_f32(0x7bff), 65504.0);
        assert_eq!(f16_to_f32(0x7c00), f32::INFINITY);
        assert!(f16_to_f32(0x7e00).is_nan());
        assert_eq!(f16_to_f32(0x8000).to_bits(), (-0.0f32).to_bits());
    }

    #[test]
    fn transposed_and_offset_views() {
        let storage = f32_bytes(&[0., 1., 2., 3., 4., 5.]);
        // A 2x3 matrix seen transposed: shape [3, 2], stride [1, 3].
        let t = tensor_from_storage(&storage, ElemType::F32, 0, &[3, 2], &[1, 3]);
        assert_eq!(t.map(|t| values(&t)), Ok(vec![0., 3., 1., 4., 2., 5.]));
        let t = tensor_from_storage(&storage, ElemType::F32, 2, &[2, 2], &[1, 1]);
        assert_eq!(t.map(|t| values(&t)), Ok(vec![2., 3., 3., 4.]));
        let t = tensor_from_storage(&storage, ElemType::F32, 4, &[2], &[1]);
        assert_eq!(t.map(|t| values(&t)), Ok(vec![4., 5.]));
        // 0-dim at an offset.
        let t = tensor_from_storage(&storage, ElemType::F32, 5, &[], &[]);
        assert_eq!(
            t.map(|t| (t.dims().to_vec(), values(&t))),
            Ok((vec![], vec![5.]))
        );
    }

    #[test]
    fn out_of_bounds_views_are_errors() {
        let storage = f32_bytes(&[0., 1., 2., 3.]);
        assert!(tensor_from_storage(&storage, ElemType::F32, 1, &[4], &[1]).is_err());
        assert!(tensor_from_storage(&storage, ElemType::F32, 0, &[2, 2], &[3, 1]).is_err());
        assert!(tensor_from_storage(&storage, ElemType::F32, 0, &[2], &[1, 1]).is_err());
        assert!(
            tensor_from_storage(&storage, ElemType::F32, 0, &[1 << 40, 1 << 40], &[0, 0]).is_err()
        );
        assert!(tensor_from_storage(&storage, ElemType::F32, usize::MAX, &[2], &[1]).is_err());
        // Size-1 dimensions may carry any stride.
        let t = tensor_from_storage(&storage, ElemType::F32, 1, &[1, 2, 1], &[usize::MAX, 2, 7]);
        assert_eq!(t.map(|t| values(&t)), Ok(vec![1., 3.]));
        // An empty view is fine anywhere.
        assert!(tensor_from_storage(&storage, ElemType::F32, 9, &[0, 3], &[3, 1]).is_ok());
    }

    #[test]
    fn integer_types_widen() {
        let storage: Vec<u8> = [-3i32, 7].iter().flat_map(|x| x.to_le_bytes()).collect();
        let t = tensor_from_storage(&storage, ElemType::I32, 0, &[2], &[1]);
        assert_eq!(
            t.and_then(|t| t.to_vec1::<i64>().map_err(|e| e.to_string())),
            Ok(vec![-3, 7])
        );
        let t = tensor_from_storage(&[0, 2, 1], ElemType::Bool, 0, &[3], &[1]);
        assert_eq!(
            t.and_then(|t| t.to_vec1::<u8>().map_err(|e| e.to_string())),
            Ok(vec![0, 1, 1])
        );
    }
}
